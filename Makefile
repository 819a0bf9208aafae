# The two quick-start commands (see README) and the checks CI runs (.ci/run: make check).
# Each sets up .venv on first use.
.PHONY: run test check lint types format venv

PY := .venv/bin/python

run:
	./scripts/run

test:
	./scripts/test

# Style, then types, then the whole test suite: the cheap checks fail first.
check: lint types test

venv:
	@./scripts/setup-venv test,browser

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

types: venv
	$(PY) -m mypy

# Rewrites files: the safe lint fixes, then the formatter.
format: venv
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .
