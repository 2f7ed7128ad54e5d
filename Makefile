# The README's two commands: `make demo` and `make test`. Both build
# everything they need from nothing but python3, cargo and the registries.
SHELL := /bin/bash
PYTHON ?= python3
CACHE := $(HOME)/.cache/audiodecode
# The environment is keyed by the requirements, so a change rebuilds it and
# an unchanged one is reused across clones (CI starts from a fresh clone).
# The heavy base (dev + torch: torch alone is gigabytes) keys the folder;
# requirements/extras.txt (the newer oracles, competitors and services) is
# installed on top, keyed by its own hash, so adding one package to it does
# not download torch again.
REQ_HASH := $(shell cat requirements/dev.txt requirements/torch.txt | sha256sum | cut -c1-12)
EXTRAS_HASH := $(shell sha256sum requirements/extras.txt | cut -c1-12)
VENV := $(CACHE)/venv-$(REQ_HASH)
PY := $(VENV)/bin/python
export CARGO_TARGET_DIR ?= $(CACHE)/target
export VIRTUAL_ENV := $(VENV)
MATURIN := $(VENV)/bin/maturin develop --skip-install --quiet

.PHONY: env system-deps build build-release test test-rust test-python test-wheel lint docs wheel demo bench fuzz clean

env: $(VENV)/.ready $(VENV)/.extras-$(EXTRAS_HASH) system-deps

# Debian's tools for the tests, benchmarks and demos (the library itself
# needs none of them), as command:package: ffmpeg encodes the fixtures PyAV's
# bundled FFmpeg cannot (mono Vorbis), espeak-ng speaks the speech corpora,
# opusdec (libopus's own decoder) is the Opus reference.
DEBIAN_TOOLS := ffmpeg:ffmpeg espeak-ng:espeak-ng opusdec:opus-tools
system-deps:
	@missing=$$(for t in $(DEBIAN_TOOLS); do command -v $${t%%:*} >/dev/null || echo $${t#*:}; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

# No file prerequisites: the folder's name is the requirements' hash, and a
# fresh clone's newer file times must not wipe a shared, valid environment.
$(VENV)/.ready:
	@mkdir -p "$(CACHE)"
	@# One builder at a time: concurrent makes (two clones, parallel jobs) wait
	@# for the lock, then find the environment ready.
	exec 9>"$(CACHE)/venv.lock"; flock 9; \
	if [ ! -f "$@" ]; then \
	  rm -rf "$(VENV)" && $(PYTHON) -m venv "$(VENV)" && \
	  "$(VENV)/bin/pip" install --quiet --upgrade pip && \
	  "$(VENV)/bin/pip" install --quiet -r requirements/dev.txt -r requirements/torch.txt && \
	  touch "$@"; fi

$(VENV)/.extras-$(EXTRAS_HASH): | $(VENV)/.ready
	exec 9>"$(CACHE)/venv.lock"; flock 9; \
	"$(VENV)/bin/pip" install --quiet -r requirements/extras.txt && \
	rm -f "$(VENV)"/.extras-* && touch "$@"

# Test builds: the dev profile (opt-level 1, dependencies at 2) compiles in a
# fraction of a release build's time on two cores.
build: env
	$(MATURIN)

build-release: env
	$(MATURIN) --release

# Formatting is checked where rustfmt is installed (it ships with rustup's
# default profile); `make lint` adds clippy with warnings as errors.
test-rust:
	cargo test --manifest-path core_rs/Cargo.toml --quiet
	@if cargo fmt --version >/dev/null 2>&1; then cargo fmt --manifest-path core_rs/Cargo.toml --check; fi

# ruff (pinned in requirements/extras.txt, configured in pyproject.toml):
# lint rules and import order of every Python folder.
LINTED := audiodecode demo tests benchmarks fuzz tools

lint: $(VENV)/.extras-$(EXTRAS_HASH)
	cargo fmt --manifest-path core_rs/Cargo.toml --check
	cargo clippy --manifest-path core_rs/Cargo.toml --all-targets --quiet -- -D warnings
	@# The binding layer too: it is compiled only with the python feature.
	cargo clippy --manifest-path core_rs/Cargo.toml --features python --quiet -- -D warnings
	$(VENV)/bin/ruff check $(LINTED)

test-python: build
	$(PY) -m pytest -q -n 2

# The documentation site, strictly: a broken link, a missing reference or a
# docstring griffe cannot parse fails the build (and so `make test`). It
# needs the built package: the loaders' shared parameter docs are filled in
# by `audiodecode.data.plan.shared_parameters` (tools/docs_shared_parameters.py).
docs: build
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# The wheel users install without a Rust toolchain: abi3 (one wheel for
# every CPython >= 3.11), linked by zig against manylinux2014's glibc 2.17,
# checked by auditwheel; plus the sdist. Into dist/.
WHEEL_GLOB := dist/audiodecode-*-cp311-abi3-manylinux*.whl
# Its own target dir: cargo's fingerprint leaves out the linker, so a release
# build linked against the host's glibc (make build-release, make demo) would
# otherwise be reused as the wheel's library.
wheel: env
	rm -f dist/audiodecode-*
	PATH="$(VENV)/bin:$$PATH" CARGO_TARGET_DIR="$(CACHE)/target-wheel" $(VENV)/bin/maturin build --release --zig --compatibility manylinux2014 --out dist --quiet
	$(VENV)/bin/maturin sdist --out dist
	$(VENV)/bin/auditwheel show $(WHEEL_GLOB)

# The wheel installed into a fresh virtual environment with no cargo or
# rustc on PATH decodes a file and draws a batch from each loader.
test-wheel: wheel
	AUDIODECODE_WHEEL="$$(ls $(WHEEL_GLOB))" $(PY) -m pytest -q -p no:cacheprovider tests/test_wheel.py

test: test-rust test-python docs test-wheel

demo: build-release
	$(PY) -m demo

# Mutation fuzzing of the decode contract (minutes; outside `make test`,
# which runs a short fixed-seed run): FUZZ_INPUTS=100000 make fuzz. Workers
# run under an address-space limit of FUZZ_MEMORY_GB, so that an allocation
# far beyond what an input holds shows up as a crash.
FUZZ_INPUTS ?= 20000
FUZZ_MEMORY_GB ?= 4
# all: seeds of every format; mp3: MP3s of every MPEG version and channel mode; rf64: RF64 WAVs.
FUZZ_SEEDS ?= all
fuzz: build-release
	nice -n 10 $(PY) -m fuzz.mutate --inputs $(FUZZ_INPUTS) --memory-gb $(FUZZ_MEMORY_GB) --seeds $(FUZZ_SEEDS)

bench: build-release
	$(PY) benchmarks/decode.py

clean:
	rm -f audiodecode/_core*.so
