# The README's two commands: `make demo` and `make test`. Both build
# everything they need from nothing but python3, cargo and the registries.
SHELL := /bin/bash
PYTHON ?= python3
CACHE := $(HOME)/.cache/audiodecode
# The environment is keyed by the requirements, so a change rebuilds it and
# an unchanged one is reused across clones (CI starts from a fresh clone).
REQ_HASH := $(shell cat requirements/*.txt | sha256sum | cut -c1-12)
VENV := $(CACHE)/venv-$(REQ_HASH)
PY := $(VENV)/bin/python
export CARGO_TARGET_DIR ?= $(CACHE)/target
export VIRTUAL_ENV := $(VENV)
MATURIN := $(VENV)/bin/maturin develop --skip-install --quiet

.PHONY: env system-deps build build-release test test-rust test-python lint demo bench clean

env: $(VENV)/.ready system-deps

# Debian's ffmpeg encodes the test fixtures PyAV's bundled FFmpeg cannot
# (mono Vorbis); the library itself never needs it.
system-deps:
	@command -v ffmpeg >/dev/null || { \
	  echo "installing ffmpeg from Debian (test fixtures only)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }

$(VENV)/.ready: $(wildcard requirements/*.txt)
	rm -rf "$(VENV)"
	$(PYTHON) -m venv "$(VENV)"
	"$(VENV)/bin/pip" install --quiet --upgrade pip
	"$(VENV)/bin/pip" install --quiet -r requirements/dev.txt -r requirements/torch.txt
	touch "$@"

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

lint:
	cargo fmt --manifest-path core_rs/Cargo.toml --check
	cargo clippy --manifest-path core_rs/Cargo.toml --all-targets --quiet -- -D warnings

test-python: build
	$(PY) -m pytest -q -n 2

test: test-rust test-python

demo: build-release
	$(PY) -m demo

bench: build-release
	$(PY) benchmarks/decode.py

clean:
	rm -f audiodecode/_core*.so
