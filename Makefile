# Alliance: `make run` serves the demo, `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint fmt bench migrations-check ci

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)
	$(MANAGE) compile_translations

run: install
	mkdir -p var
	$(MANAGE) migrate --noinput
	$(MANAGE) load_instruments
	$(MANAGE) seed_demo
	$(MANAGE) runserver 127.0.0.1:8000

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations-check: install
	$(MANAGE) makemigrations --check --dry-run

# A synthetic clinic at S (50 clients) and M (1,000 clients) in the benchmark's own database.
bench: install
	$(MANAGE) bench --scale S --scale M --json bench/results.json

ci:
	bash .ci/run
