# candor: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The stamp names the pyproject it was installed from, so editing dependencies reinstalls.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install demo test lint types check-layers audit pytest bench soak serve clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "candor needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## demo: build the demo jurisdiction (100,000 persons, 20,000 organisations), ingest it, summarise, serve.
demo: $(STAMP)
	mkdir -p demo
	$(BIN)/candor demo --db sqlite:///demo/candor.db --dir demo

## test: lint (with ruff's security rules), types, layer contract, the dependency audit, then the
## whole suite (PostgreSQL too when CANDOR_TEST_PG_URL is set).
test: lint types check-layers audit pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

# Known vulnerabilities in the pinned dependencies (pip-audit); says so loudly when it cannot reach
# a vulnerability service instead of passing as clean.
audit: $(STAMP)
	$(BIN)/python tools/audit_dependencies.py

types: $(STAMP)
	$(BIN)/mypy

check-layers: $(STAMP)
	$(BIN)/lint-imports

# pytest exits 5 when it collected nothing; make treats any non-zero exit as failure. One worker
# per core (pytest-xdist): every test has its own SQLite file or PostgreSQL schema.
# PYTEST_WORKERS=0 runs the suite in this one process.
PYTEST_WORKERS ?= auto
pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS)

## bench: the benchmark suite; prints a table, writes bench/results.json and the README table.
bench: $(STAMP)
	$(BIN)/python -m bench

## soak: POST /v1/checks open loop at 70% of its measured capacity for 10 minutes, watching the
## server's memory; writes bench/soak.json, exits 1 on errors or growing memory. Not in `make test`.
soak: $(STAMP)
	$(BIN)/python -m bench.soak --minutes 10

serve: $(STAMP)
	$(BIN)/candor serve

clean:
	rm -rf $(VENV) demo bench/work .mypy_cache .ruff_cache .pytest_cache
