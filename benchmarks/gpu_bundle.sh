#!/usr/bin/env bash
# Prepare .whl/: the wheels benchmarks/gpu.py needs that the GPU machine's
# image lacks (it has no network). The image has Python 3.12, jax + the CUDA
# plugin, torch + torchaudio, flax, optax, orbax-checkpoint (and so absl-py,
# etils, msgpack, protobuf, typing_extensions), numpy, scipy, matplotlib,
# pandas, tqdm, psutil and numba; everything else gpu.py imports is here,
# each dependency named explicitly (pip download --no-deps), pinned to the
# versions of requirements/.
#
# Not bundled on purpose: numpy, scipy, jax and friends (a second copy on
# PYTHONPATH would shadow the image's CUDA-matched builds), scikit-learn
# (librosa imports it only for functions gpu.py does not call).
#
# Also needed on the device: a release build of the extension,
# audiodecode/_core.abi3.so (`make build-release`; abi3-py311 loads on 3.12).
#
#   bash benchmarks/gpu_bundle.sh        # then see the top of benchmarks/gpu.py
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
WHEELS=(
  # the JAX loader: grain and what the image lacks of its dependencies
  grain==0.2.18 array-record==0.8.6 cloudpickle==3.1.3 portpicker==1.6.0
  # the PyAV fallback and the demo data's encoder
  av==18.1.0
  # "Before": librosa, audiomentations and their dependencies missing there
  librosa==0.11.0 soxr==0.5.0.post1 soundfile==0.14.0 audioread==3.1.0 pooch==1.9.0 platformdirs==4.14.8
  requests==2.34.2 charset-normalizer==3.5.3 idna==3.20 urllib3==2.8.0 certifi==2026.10.19.post1
  decorator==5.3.1 lazy-loader==0.6 joblib==1.6.0 cffi==2.1.1 pycparser==3.12
  audiomentations==0.43.1 numpy-minmax==0.6.0 numpy-rms==0.7.0 python-stretch==0.3.1
)
mkdir -p .whl
for spec in "${WHEELS[@]}"; do
  name=${spec%%==*}
  if ! ls .whl/ 2>/dev/null | grep -qi "^${name//-/_}-${spec##*==}-"; then
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d .whl "$spec"
  fi
done
so=$(ls audiodecode/_core*.so 2>/dev/null | head -1 || true)
[ -n "$so" ] || echo "WARNING: no audiodecode/_core*.so: run make build-release first" >&2
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
wheels=$(du -cb .whl/*.whl | tail -1 | cut -f1)
sobytes=$( [ -n "$so" ] && stat -c %s "$so" || echo 0)
total=$((tree + wheels + sobytes))
echo "wheels: $(ls .whl/*.whl | wc -l) files, $((wheels / 1024)) KiB; tracked tree $((tree / 1024)) KiB; extension $((sobytes / 1024)) KiB"
echo "total to carry: $((total / 1024 / 1024)) MiB of the 64 MiB limit"
[ "$total" -le $((64 * 1024 * 1024)) ] || { echo "too large for the device machine" >&2; exit 1; }
