# `make demo` and `make test` work on a fresh machine with Python 3.11+: each creates the
# virtual environment .venv and installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint slow

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/daskquant demo --out out

lint: $(STAMP)
	$(BIN)/ruff check daskquant tests benchmarks deploy notebooks
	$(BIN)/ruff format --check daskquant tests benchmarks deploy notebooks
	$(BIN)/mypy daskquant deploy/slurm/slurm_cluster.py

test: lint
	$(BIN)/python -m pytest

slow: $(STAMP)  # the cases marked slow, left out of `make test` (pyproject.toml's addopts)
	$(BIN)/python -m pytest -m slow
