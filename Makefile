# Two commands for a newcomer: `make run` and `make test`.
# Both install from uv.lock (every dependency, direct and transitive, at an exact
# version); `make lock` records a pyproject change in it, `make lock-upgrade` moves it
# to the newest versions pyproject allows, and `make test-latest` tries those first.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint types unit demo bench clean install install-dev lock lock-upgrade \
	lock-check test-latest system-deps

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q uv==$(UV_VERSION)

# --locked: the install stops if pyproject and uv.lock disagree. --compile-bytecode:
# every process starts from compiled modules, even where PYTHONDONTWRITEBYTECODE stops
# Python writing them (ccxt alone takes seconds to compile: each subprocess a test
# starts would pay it).
$(STAMP_RUN): pyproject.toml uv.lock | $(UV)
	$(UV) sync -q --locked --inexact --compile-bytecode
	touch $@

$(STAMP_DEV): pyproject.toml uv.lock | $(UV) system-deps
	$(UV) sync -q --locked --extra dev --compile-bytecode
	touch $@ $(STAMP_RUN)

# mysqlclient (the MySQL/MariaDB driver, in the dev and `mysql` extras) compiles
# against Debian's MariaDB client headers: installed once, when missing.
system-deps:
	@if ! pkg-config --exists libmariadb 2>/dev/null && ! pkg-config --exists mysqlclient 2>/dev/null; then \
	  echo "installing libmariadb-dev and pkg-config (mysqlclient builds against them)"; \
	  $(SUDO) apt-get update -q >/dev/null; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q libmariadb-dev pkg-config >/dev/null; \
	fi

install: $(STAMP_RUN)

install-dev: $(STAMP_DEV)

lock: | $(UV)
	$(UV) lock

lock-upgrade: | $(UV)
	$(UV) lock --upgrade

lock-check: | $(UV)
	$(UV) lock --check

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
	$(BIN)/python -m compileall -q src
	$(BIN)/pytest -q -n auto

test: lock-check lint types unit

# The whole suite on the newest versions pyproject allows, in a throwaway environment.
test-latest: | $(UV)
	@set -e; env=$$(mktemp -d); trap 'rm -rf "$$env"' EXIT; \
	$(UV) venv -q "$$env"; \
	$(UV) pip install -q --python "$$env/bin/python" --upgrade -e ".[dev]"; \
	"$$env/bin/ruff" check src tests bench; \
	"$$env/bin/mypy" src; \
	"$$env/bin/pytest" -q -p no:cacheprovider

bench: $(STAMP_DEV)
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/backfill.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/enrich.py
	$(BIN)/python bench/backup.py
	$(BIN)/python bench/retention.py
	$(BIN)/python bench/features.py

clean:
	rm -rf $(VENV) $(TOOLS) data .pytest_cache .mypy_cache .ruff_cache
