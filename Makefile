# The README's commands. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup lock demo test lint unit stack-up stack-down bench clean

setup: $(VENV)/.installed

# Exactly the locked versions (hashes checked), then payhooks and its dev tooling (a distribution of
# their own, devtools/, never in the runtime wheel) without resolving anything.
$(VENV)/.installed: pyproject.toml devtools/pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=25.1"
	$(BIN)/pip install -q --require-hashes -r requirements/dev.txt
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/pip install -q --no-deps -e ./devtools
	$(BIN)/pip check
	touch $@

# After changing a dependency in pyproject.toml: re-resolve uv.lock, re-export the pip files.
lock: setup
	$(BIN)/uv lock --python 3.11
	$(BIN)/uv export --frozen -q --no-dev --no-emit-project -o requirements/runtime.txt
	$(BIN)/uv export --frozen -q --group dev --no-emit-project -o requirements/dev.txt

demo: setup
	$(BIN)/payhooks demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

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
