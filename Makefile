# Scripts, not magic: every target is a plain command you can also type yourself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

# Versions come from requirements/lock.txt (pip constraints: exact pins for everything installed);
# pyproject.toml keeps the ranges. Refresh the lock with `bash scripts/lock.sh`.
$(STAMP): pyproject.toml client/pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/lock.txt -e ".[dev]" -e ./client
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the project, its dev tools and the client, at the locked versions

# `make run PORT=8123 HOST=0.0.0.0` (or `PORT=8123 make run`): they set SENTIMENT_PORT and
# SENTIMENT_HOST for this run (the service's own settings, checked there: a bad port exits 2 and
# names it); left out, those settings apply as they are (default 127.0.0.1:8000).
given = $(if $($(1)),$(2)='$($(1))')

run: $(STAMP)  ## serve the shipped model on http://127.0.0.1:8000 (SQLite log in ./data); PORT=, HOST= to move it
	$(call given,HOST,SENTIMENT_HOST) $(call given,PORT,SENTIMENT_PORT) $(PY) -m service

lint: $(STAMP)  ## ruff lint + format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: lint  ## lint, then the whole test suite (first installs missing Debian packages: PostgreSQL)
	bash scripts/system_deps.sh
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
