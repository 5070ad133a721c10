# KetaCare: `make run` serves the demo clinic; `make test` runs every check CI runs.
# Needs only python3 (3.11), git and make: everything else is installed into .venv from uv.lock.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export PYTHONPATH := $(abspath src)

.PHONY: run test lint types checks pytest bench install lock clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Installs exactly what uv.lock pins (--frozen: never re-resolve; --inexact: keep uv itself).
$(VENV)/.synced: $(BIN)/uv uv.lock pyproject.toml
	$(BIN)/uv sync --frozen --inexact --quiet
	@touch $@

install: $(VENV)/.synced

var:
	@mkdir -p var

run: install var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver 127.0.0.1:8000

test: install lint types checks pytest

lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

types: install
	$(BIN)/mypy src

checks: install
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/lint-imports

# Two workers (pytest-xdist); browser tests all go to one of them (tests/browser/conftest.py).
PYTEST_ARGS ?= -n 2 --dist loadgroup

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/patients.py

lock: $(BIN)/uv
	$(BIN)/uv lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
