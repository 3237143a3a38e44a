# riskmodel — run `make help` for the targets.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := data/sample
BACUDA := data/bacuda
DEMO := .riskmodel/demo

.DEFAULT_GOAL := help
.PHONY: help install browser test demo lint bench sample clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "%-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install riskmodel with its dev tools (pinned by requirements.lock)

browser: ## install headless Chromium (Debian package) for the report's browser test, if missing
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q --no-install-recommends chromium)

test: install browser ## run the test suite (scale benchmarks excluded)
	$(BIN)/python -m pytest -m "not bench" -q

demo: install ## validate the committed sample, train, evaluate, score a batch and write its report
	$(BIN)/riskmodel demo --data $(SAMPLE) --workdir $(DEMO)

lint: install ## ruff and mypy
	$(BIN)/ruff check riskmodel features tests
	$(BIN)/ruff format --check riskmodel features tests
	$(BIN)/mypy riskmodel features

bench: install ## scale benchmarks: print time and peak memory
	$(BIN)/python -m pytest -m bench -q -s

sample: install ## regenerate the committed samples data/sample and data/bacuda (20k, seed 7)
	$(BIN)/riskmodel sample --out $(SAMPLE) --declarations 20000 --seed 7
	$(BIN)/riskmodel sample --out $(BACUDA) --layout bacuda --declarations 20000 --seed 7

clean: ## remove the venv, MLflow stores and generated output
	rm -rf $(VENV) .riskmodel mlflow.db mlruns mlartifacts .pytest_cache .mypy_cache .ruff_cache
