# Every target creates what it needs: a fresh machine only needs python3 (>= 3.11).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench conformance clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# AWS's conformance requirements: the wheel declares Python >= 3.14 but runs on 3.11.
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python \
		aws-durable-execution-conformance-tests==1.0.0
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/order_workflow.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

conformance: $(STAMP)
	$(BIN)/python -m tests.conformance.run

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
