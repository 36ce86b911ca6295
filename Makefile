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

.PHONY: demo test bench lint install install-test browser clean serve

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test browser

# Debian's Chromium for the dashboard test (no browser downloads at run time).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser test"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/orderflow demo --days $(DAYS) --tickers $(TICKERS) --seed $(SEED)
	@if [ "$(SERVE)" != "0" ]; then \
	  echo "Dagster UI  -> http://localhost:3000"; echo "Dashboard   -> http://localhost:8000"; \
	  $(VENV)/bin/dagster dev -w workspace.yaml -h 0.0.0.0 -p 3000 & \
	  $(VENV)/bin/orderflow serve --host 0.0.0.0 --port 8000; \
	fi

test: install-test
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: install-test
	mkdir -p bench-results
	$(PY) -m pytest -q -m bench -p no:randomly -s tests/bench

lint: install-test
	$(VENV)/bin/ruff check orderflow_pipeline assets tests

clean:
	rm -rf data .dagster bench-results tests/artifacts
