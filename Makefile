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

# tests/web run the browser's PDQ hasher in Debian's Chromium (Playwright drives it; no browser is downloaded).
install: $(STAMP)
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium from Debian packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "Chromium is not installed; the browser tests need it (Debian: apt-get install chromium)" >&2; \
	  fi; \
	fi

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
	$(BIN)/python bench/pdq_js_conformance.py

clean:
	rm -rf $(VENV) demo-data .pytest_cache .mypy_cache .ruff_cache
