# The two commands a newcomer types: `make demo` and `make test`. Each sets up everything it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: demo test lint unit bench services install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

services:
	bash scripts/ensure-postgres.sh

demo: install
	$(BIN)/hanoinet demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

unit: install services
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

test: lint unit

bench: install
	$(BIN)/python bench/exchange.py
	$(BIN)/python bench/floor.py
	$(BIN)/python bench/ledger_proofs.py
	$(BIN)/python bench/ledger_appends.py
	$(BIN)/python bench/evidence.py
	$(BIN)/python bench/hash_match.py
	$(BIN)/python bench/pdq_hashing.py

clean:
	rm -rf $(VENV) demo-data .pytest_cache .mypy_cache .ruff_cache
