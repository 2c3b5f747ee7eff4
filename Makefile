# The README's commands. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup demo test lint unit stack-up stack-down bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=25.1"
	$(BIN)/pip install -q -e . --group dev
	touch $@

demo: setup
	$(BIN)/payhooks demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint stack-up
	$(BIN)/pytest $(PYTEST_ARGS)

unit: setup
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

stack-up: setup
	$(BIN)/payhooks stack up

stack-down: setup
	$(BIN)/payhooks stack down

bench: setup stack-up
	$(BIN)/payhooks bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
