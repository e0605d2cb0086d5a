# Every target creates what it needs: a fresh machine only needs python3 (>= 3.11).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
# Two stamps, one venv: the demo needs only the package, its runtime dependencies and the
# CLI extra (rich, for the live view); the test and dev tools (and AWS's conformance
# requirements) come with `make test`.
STAMP_DEMO := $(VENV)/.installed-demo
STAMP := $(VENV)/.installed
# A user's side of the wire: boto3 >= 1.44 (pause / resume / delete), which needs a botocore
# newer than aiobotocore lets into $(VENV). Tests run client scripts with its python.
BOTO3_VENV ?= .venv-boto3
STAMP_BOTO3 := $(BOTO3_VENV)/.installed

.PHONY: demo test lint typecheck unit fuzz bench load conformance conformance-otel clean lambda-zip tools

$(STAMP_DEMO): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -e '.[cli]'
	touch $(STAMP_DEMO)

$(STAMP): $(STAMP_DEMO)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[test]'
	# AWS's conformance requirements: the wheel declares Python >= 3.14 but runs on 3.11.
	$(PIP) install --no-deps --ignore-requires-python \
		aws-durable-execution-conformance-tests==1.0.0
	# AWS's OpenTelemetry requirements and validators (same declared Python >= 3.14).
	$(PIP) install --no-deps --ignore-requires-python \
		aws-durable-execution-conformance-tests-otel==0.2.0
	touch $(STAMP)

$(STAMP_BOTO3):
	$(PYTHON) -m venv $(BOTO3_VENV)
	$(BOTO3_VENV)/bin/python -m pip --quiet --disable-pip-version-check install 'boto3>=1.44,<2'
	touch $(STAMP_BOTO3)

# The official Python SDK's conformance handlers run from their own virtualenv: the SDK
# 3.0.0, the Lambda runtime interface client, and a boto3 whose botocore has the durable
# APIs (newer than aiobotocore's pin). The handlers themselves are not on the package
# index: docs/local-backend.md says how to check them out (the harness skips without).
# `make test` needs the virtualenv too: a test invokes a function written with the SDK.
OFFICIAL_VENV ?= .venv-official
OFFICIAL_STAMP := $(OFFICIAL_VENV)/.installed
$(OFFICIAL_STAMP):
	$(PYTHON) -m venv $(OFFICIAL_VENV)
	$(OFFICIAL_VENV)/bin/python -m pip --quiet --disable-pip-version-check install \
		aws-durable-execution-sdk-python==3.0.0 'awslambdaric>=3.0' 'botocore>=1.44' 'boto3>=1.44'
	touch $(OFFICIAL_STAMP)

DEMO_ARGS ?=
demo: $(STAMP_DEMO)
	$(BIN)/python examples/order_workflow.py $(DEMO_ARGS)

# System tools the tests drive: tmux (the live view, in a real terminal), Chromium and its
# driver (the web UI, in a real headless browser); tests/system_tools.py finds them. Found
# on PATH: nothing to do. Missing, as root with apt-get (CI, Debian): installed. Missing
# elsewhere: one line says what to install, and the tests that need them are skipped.
_have = $(shell for t in $(1); do command -v $$t 2>/dev/null && break; done)
TOOLS_MISSING = $(strip $(if $(call _have,tmux),,tmux) \
	$(if $(AIODURABLE_CHROMIUM)$(call _have,chromium chromium-browser google-chrome),,chromium) \
	$(if $(AIODURABLE_CHROMEDRIVER)$(call _have,chromedriver),,chromium-driver))
tools:
	@if [ -z "$(TOOLS_MISSING)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TOOLS_MISSING); \
	else echo "make tools: not found: $(TOOLS_MISSING); their tests will be skipped" \
		"(install: apt-get install $(TOOLS_MISSING); macOS: brew install tmux chromedriver" \
		"&& brew install --cask chromium)"; fi

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

unit: $(STAMP) $(STAMP_BOTO3) $(OFFICIAL_STAMP) tools
	$(BIN)/pytest -q

test: lint typecheck unit

# The long fuzz campaign (10,000 cases per property); `make test` runs a few hundred.
fuzz: $(STAMP)
	FUZZ_CASES=10000 $(BIN)/pytest -q tests/reliability/test_http_fuzz.py tests/reliability/test_fuzz_envelope.py


# Every backend: local, emulator, runtime-api (our handlers as awslambdaric processes on
# `aiodurable serve`), official and emulator-official (the official SDK's handlers).
conformance: $(STAMP) $(OFFICIAL_STAMP)
	$(BIN)/python -m tests.conformance.run

# AWS's OpenTelemetry requirements on the local backend (a few seconds; also in `make test`).
conformance-otel: $(STAMP)
	$(BIN)/python -m tests.otel.run

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.otel_overhead
	$(BIN)/python -m benchmarks.load_http --concurrency 200 --steps 20 --seconds 60

load: $(STAMP)
	$(BIN)/python -m benchmarks.load_http --concurrency 200 --steps 20 --seconds 60

# Lambda deployment zip (examples/sam/template.yaml): aiodurable, its runtime dependencies
# and the handler files, built for the Lambda runtime's platform. LAMBDA_PLATFORM= (empty)
# builds for this machine instead, as the tests do. botocore keeps the Lambda model only
# (LAMBDA_SERVICES=s3 adds S3's, for S3Serdes); bytecode is compiled for LAMBDA_PYTHON when
# an interpreter of that version is here (src/aiodurable/lambda_package.py says why).
LAMBDA_ZIP ?= build/lambda.zip
LAMBDA_PYTHON ?= 3.12
LAMBDA_PLATFORM ?= manylinux2014_x86_64
LAMBDA_SERVICES ?=
LAMBDA_HANDLER_FILES ?= examples/__init__.py examples/human_approval.py
LAMBDA_BUILD = $(basename $(LAMBDA_ZIP))
LAMBDA_TARGET_FLAGS = $(if $(LAMBDA_PLATFORM),--platform $(LAMBDA_PLATFORM) \
	--python-version $(LAMBDA_PYTHON) --implementation cp --only-binary=:all:)

lambda-zip: $(STAMP_DEMO)
	rm -rf $(LAMBDA_BUILD) $(LAMBDA_ZIP)
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir $(LAMBDA_BUILD)/wheel .
	$(BIN)/python -m pip install --quiet --no-compile --target $(LAMBDA_BUILD)/package \
		$(LAMBDA_TARGET_FLAGS) $(LAMBDA_BUILD)/wheel/*.whl
	for f in $(LAMBDA_HANDLER_FILES); do \
		mkdir -p $(LAMBDA_BUILD)/package/$$(dirname $$f) && cp $$f $(LAMBDA_BUILD)/package/$$f; done
	$(BIN)/python src/aiodurable/lambda_package.py $(LAMBDA_BUILD)/package --zip $(LAMBDA_ZIP) \
		--python-version $(LAMBDA_PYTHON) $(foreach s,$(LAMBDA_SERVICES),--service $(s))

clean:
	rm -rf $(VENV) $(BOTO3_VENV) $(OFFICIAL_VENV) .mypy_cache .pytest_cache .ruff_cache
