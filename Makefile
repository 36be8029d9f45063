# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: run test lint types unit demo bench clean install-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(STAMP_RUN)

install-dev: $(STAMP_DEV)

run: $(STAMP_RUN)
	$(BIN)/omc run

demo: $(STAMP_RUN)
	$(BIN)/omc run --demo

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(STAMP_DEV)
	$(BIN)/mypy src

unit: $(STAMP_DEV)
	$(BIN)/pytest -q

test: lint types unit

bench: $(STAMP_DEV)
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/backfill.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/enrich.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
