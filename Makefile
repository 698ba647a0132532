# `make repro` and `make test` each create the environment first (.venv, pinned by
# pyproject.toml) when it is missing or older than pyproject.toml.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export DVC_NO_ANALYTICS := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: repro test test-fast lint lab

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

repro: $(VENV)/.installed
	$(BIN)/dvc repro

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the inner loop: everything but the tests marked slow (DVC, subprocesses, notebooks, Triton's interpreter)
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check roots tests
	$(BIN)/ruff format --check roots tests

# JupyterLab on the repository root (notebooks, their executed copies, figures, README); root may run it
# too (containers). LAB_ARGS passes more options, e.g. LAB_ARGS="--no-browser --port=8890".
LAB_ARGS ?=
lab: $(VENV)/.installed
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)
