# Every target creates the virtual environment on first use, so a fresh clone needs only `make demo`
# or `make test`. PYTHON picks the interpreter that builds the environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

.PHONY: help venv demo test test-all test-oldest test-legacy-keras test-matrix lint format bench bench-full clean

help:
	@echo "make demo        train an LSTM on the bundled NYC weather data (creates .venv)"
	@echo "make test        run the test suite, except cases marked slow"
	@echo "make test-all    run every test, slow ones included"
	@echo "make test-oldest run the test suite on the oldest supported stack (cached venv)"
	@echo "make test-legacy-keras run the TensorFlow tests with Keras 2 (tf-keras)"
	@echo "make test-matrix run the test suite on both stacks, and with Keras 2"
	@echo "make lint        ruff on everything, mypy --strict on src/"
	@echo "make bench       quick benchmarks (a few minutes); bench-full runs 20,000 series"
	@echo "make clean       remove the environment, caches and generated files"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/train_lstm.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ""

# The oldest stack lives in a cached environment outside the repository (see
# scripts/matrix_env.sh), so that CI and every clone on a machine reuse one build.
test-oldest:
	venv="$$(bash scripts/matrix_env.sh)" && "$$venv/bin/python" -m pytest -q

# Keras 2 through tf-keras, as users get it with TF_USE_LEGACY_KERAS=1.
test-legacy-keras: $(STAMP)
	TF_USE_LEGACY_KERAS=1 $(BIN)/python -m pytest -q tests/test_pipeline.py tests/test_cases.py tests/test_demo.py

test-matrix: test test-oldest test-legacy-keras

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

bench-full: $(STAMP)
	$(BIN)/python benchmarks/run.py --full

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis runs
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name '*.egg-info' -type d -prune -exec rm -rf {} +
