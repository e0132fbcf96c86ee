# Two targets a fresh clone needs: `make run` (the main ingestion job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,serve]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/evidex run --db evidex.db

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/extract_speed.py
	$(BIN)/python benchmarks/fetch_rate.py

clean:
	rm -rf $(VENV) build dist *.egg-info
