# `make repro` and `make test` each create the environment first (.venv, pinned by
# pyproject.toml) when it is missing or older than pyproject.toml.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export DVC_NO_ANALYTICS := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: repro official-data test test-all test-fast lint lab plots cpu-campaign

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

repro: $(VENV)/.installed
	$(BIN)/python -m roots check-data
	$(BIN)/dvc repro

# the official lossless CIFAR-10 instead of the offline JPEG copy (needs internet); then make repro
official-data: $(VENV)/.installed
	$(BIN)/python -m roots check-data --official

# CI's run: everything but the few tests marked heavy (each over 4 minutes on 2 cores)
test: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not heavy" $(PYTEST_ARGS)

# everything, the heavy ones too: before committing a change to what they check
test-all: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the inner loop: everything but the tests marked slow (DVC, subprocesses, notebooks, Triton's interpreter)
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not slow and not heavy" $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check roots tests
	$(BIN)/ruff format --check roots tests

# dvc plots show offline: DVC's page with Vega inside (roots plots-page), rendered into dvc_plots/index.html
PLOTS_PAGE = .dvc/tmp/offline-plots.html
plots: $(VENV)/.installed
	$(BIN)/python -m roots plots-page --out $(PLOTS_PAGE)
	$(BIN)/dvc plots show --html-template $(PLOTS_PAGE) --out dvc_plots

# JupyterLab on the repository root (notebooks, their executed copies, figures, README); root may run it
# too (containers). LAB_ARGS passes more options, e.g. LAB_ARGS="--no-browser --port=8890".
LAB_ARGS ?=
lab: $(VENV)/.installed
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# The CPU campaign (README, "The CPU campaign"): params.yaml's cpu_campaign queue, trained in the
# background from its own worktree at this checkout's HEAD (so that editing here never changes the
# code under a running sweep) until DEADLINE. Each finished run, and each stopped run's last-epoch
# checkpoint, is committed into this checkout as it comes; the log is logs/cpu-campaign.log.
CAMPAIGN_TREE ?= ../roots-cpu-campaign
DEADLINE ?= 2.5h
cpu-campaign: $(VENV)/.installed
	@if [ -e $(CAMPAIGN_TREE)/.sweep.lock ] && ! flock -n $(CAMPAIGN_TREE)/.sweep.lock true; then \
		echo "a sweep is still running in $(CAMPAIGN_TREE); stop it (kill -INT) or wait for its deadline"; exit 2; fi
	test -f data/cifar10/source.json || $(BIN)/dvc repro prepare
	git worktree remove --force $(CAMPAIGN_TREE) 2>/dev/null || true
	git worktree add --detach $(CAMPAIGN_TREE) HEAD
	mkdir -p logs
	cd $(CAMPAIGN_TREE) && nohup $(abspath $(BIN))/python -m roots sweep --plan cpu_campaign --parallel 2 \
		--carry-over --deadline $(DEADLINE) --data $(CURDIR)/data/cifar10 --into $(CURDIR) \
		>> $(CURDIR)/logs/cpu-campaign.log 2>&1 &
	@echo "CPU campaign started in $(CAMPAIGN_TREE) until $(DEADLINE) from now; tail -f logs/cpu-campaign.log"

