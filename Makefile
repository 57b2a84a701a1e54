# The two commands: `make run` and `make test`. Everything installs into .venv from the lock files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test test-postgres test-browser lint typecheck lock bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Fabflow needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements/base.txt pyproject.toml
	$(PIP) install -r requirements/base.txt
	$(PIP) install --no-deps -e .
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements/dev.txt
	$(PIP) install -r requirements/dev.txt
	$(PIP) install --no-deps -e examples/fabflow-hello-plugin
	$(PIP) install --no-deps -e examples/fabflow-ring-plugin
	@touch $@

# Demo-friendly settings: the built-in demo connector, reachable on loopback.
DEMO_ENV := FABFLOW_DEMO_CONNECTOR=true OUTBOUND_ALLOWLIST=$${OUTBOUND_ALLOWLIST:-127.0.0.1,localhost}

run: $(VENV)/.installed
	@sh scripts/system-packages
	$(BIN)/fabflow migrate --noinput -v0
	$(DEMO_ENV) $(BIN)/fabflow demo
	$(DEMO_ENV) $(BIN)/fabflow serve

test: $(VENV)/.dev-installed
	@sh scripts/system-packages
	$(BIN)/python -m pytest -q -m "not browser"

test-browser: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q -m browser tests/browser

test-postgres: $(VENV)/.dev-installed
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest -q -m "not browser"

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy src

# Regenerate the lock files after changing dependencies in pyproject.toml.
lock: $(BIN)/python
	$(PIP) install pip-tools
	$(BIN)/pip-compile -q --strip-extras --no-header --annotation-style=line -o requirements/base.txt pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --no-header --annotation-style=line --extra dev -o requirements/dev.txt pyproject.toml

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/intake.py

clean:
	rm -rf $(VENV) var
