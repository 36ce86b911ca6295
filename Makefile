# Two commands for a new user: `make demo` and `make test` (README). Everything they need is
# installed here, from PyPI and Debian, into .venv — nothing by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
SERVE ?= 1
DAYS ?= 30
TICKERS ?= 150
SEED ?= 7
export DAGSTER_HOME ?= $(CURDIR)/.dagster
export ORDERFLOW_LAKE ?= $(CURDIR)/data/lake
export ORDERFLOW_DUCKDB ?= $(CURDIR)/data/warehouse.duckdb

# Every install is constrained by the lock (`make lock` rewrites it from pyproject.toml), so a new
# machine, CI and a developer get the same versions the gates and the suite were run with.
LOCK := requirements.lock
# What the gates read: the formatter and linter the whole tree, mypy the `files` of [tool.mypy].
SRC := orderflow_pipeline assets tests

.PHONY: demo live-demo test suite check fmt lint typecheck bench bench-year install install-test browser postgres redis lock clean serve

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: pyproject.toml $(LOCK) | $(PY)
	$(PIP) install -q -c $(LOCK) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(LOCK) $(VENV)/.installed
	$(PIP) install -q -c $(LOCK) -e '.[test,dev]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test browser postgres redis

# Debian's Chromium for the dashboard test (no browser downloads at run time).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser test"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's PostgreSQL server for the Postgres-backed Dagster instance and DuckLake catalog tests;
# the tests start and stop their own server (tests/pgserver.py), nothing runs as a service.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  echo "installing Debian postgresql for the Postgres tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

# Debian's Redis for the live broker tests (ORDERFLOW_LIVE_BROKER); the tests start and stop their
# own server on a free loopback port (tests/redisserver.py), nothing runs as a service.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing Debian redis-server for the live broker tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $@

# Serving (SERVE=1): `dagster dev` and the dashboard run under assets/demo.py, which sends their
# logs to $(DAGSTER_HOME)/serve-logs/ and stops both within seconds on Ctrl-C / SIGTERM (`exec`: make's
# SIGTERM reaches it directly).
UI_PORT ?= 3000
API_PORT ?= 8000
demo: install $(DAGSTER_HOME)/dagster.yaml
	@$(VENV)/bin/orderflow demo --days $(DAYS) --tickers $(TICKERS) --seed $(SEED)
	@if [ "$(SERVE)" != "0" ]; then \
	  exec $(PY) -m assets.demo serve --host 0.0.0.0 --ui-port $(UI_PORT) --api-port $(API_PORT); \
	fi

# Issue 18: replay server at 60x + `orderflow capture` + the intraday path + dashboard (+ Dagster UI
# with UI=1): a simulated trading day fills the dashboard minute by minute (assets/live_demo.py).
# Its own lake, warehouse and spool under data/live/, so it never touches the `make demo` data.
SPEED ?= 60
live-demo: install $(DAGSTER_HOME)/dagster.yaml
	mkdir -p data/live
	ORDERFLOW_LAKE=$(CURDIR)/data/live/lake ORDERFLOW_DUCKDB=$(CURDIR)/data/live/warehouse.duckdb \
	  $(PY) -m assets.live_demo --speed $(SPEED) --tickers 60 $(if $(filter 1,$(UI)),--ui,)

# The gates in order (format, lint, types), then the suite. Recipe lines run one after another and
# stop at the first failure, so CI (`.ci/run` = `make test`) fails on a gate before any test runs.
# pytest's exit 5 means it collected no test: that fails too, with a message saying so, because a
# CI run that executed nothing must not look green.
PYTEST_ARGS ?= -q -n 2 --dist loadfile
define run_pytest
	@rc=0; $(PY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make: pytest collected no tests; failing on purpose" >&2; fi; \
	exit $$rc
endef

test: install-test
	$(VENV)/bin/ruff format --check $(SRC)
	$(VENV)/bin/ruff check $(SRC)
	$(VENV)/bin/mypy
	$(run_pytest)

# The suite alone, without the gates (e.g. `make suite PYTEST_ARGS="-q tests/test_config.py"`).
suite: install-test
	$(run_pytest)

bench: install-test
	mkdir -p bench-results
	$(PY) -m pytest -q -m bench -p no:randomly -s tests/bench

# The year benchmark alone (issue 20; also part of `make bench`): sized by the environment, e.g.
# `BENCH_YEAR_TICKERS=60 BENCH_YEAR_DAYS=40 make bench-year` to iterate; the simulated market is
# cached under bench-results/.cache. Rewrites bench-results/year.json and docs/performance.md.
bench-year: install-test
	mkdir -p bench-results
	$(PY) -m pytest -q -m bench -p no:randomly -s tests/bench/test_bench_year.py

# The gates alone (what `make test` runs before pytest).
check: lint typecheck

lint: install-test
	$(VENV)/bin/ruff format --check $(SRC)
	$(VENV)/bin/ruff check $(SRC)

typecheck: install-test
	$(VENV)/bin/mypy

# Rewrite the tree in the project's format and apply ruff's safe fixes (imports, upgrades).
fmt: install-test
	$(VENV)/bin/ruff format $(SRC)
	$(VENV)/bin/ruff check --fix $(SRC)

# Re-resolve requirements.lock from pyproject.toml (runtime + test + dev) for this platform's
# Python 3.11; versions already in the lock are kept unless UPGRADE=1.
lock: $(PY)
	$(PIP) install -q -c $(LOCK) 'uv>=0.5,<1'
	$(VENV)/bin/uv pip compile -q pyproject.toml --extra test --extra dev --extra prod --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" \
	  $(if $(filter 1,$(UPGRADE)),--upgrade,) -o $(LOCK)

clean:
	rm -rf data .dagster bench-results tests/artifacts
