# The commands a person types. Everything installs what it needs on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .sam-venv
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export AWS_REQUEST_CHECKSUM_CALCULATION := when_required
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install test lint typecheck demo local invoke emulator setup build validate bench bench-batch aepp-check scan deploy clean distclean mutate FORCE

# Every virtualenv here needs Python 3.11+. $(call require_python,PY) expands to nothing when PY is fine and
# otherwise stops make with one line saying why (.ci/python-ok), before anything is created or installed.
require_python = $(eval _python_problem := $(shell sh .ci/python-ok $(1)))$(if $(_python_problem),$(error $(_python_problem)))

# A .venv whose python is missing, broken (a moved or deleted interpreter), older than 3.11, or cannot
# import its own pip (its base interpreter was upgraded under it) is rebuilt: FORCE makes its install stamp
# out of date, and the recipe starts from an empty .venv.
VENV_STALE := $(shell sh .ci/python-ok $(BIN)/python venv >/dev/null || echo FORCE)

help:
	@echo "make test      install .venv, run ruff, mypy and the whole pytest suite"
	@echo "make demo      the offline end-to-end run: moto's server, the AEP emulator (empty sandbox + setup), the template's resources and functions, the call-center story"
	@echo "make local     the same stack until Ctrl-C: S3 and SQS delivered to the functions, the lookup API on :3000 (docs/local.md)"
	@echo "make invoke    FUNCTION=stream_ingest EVENT=events/sqs-xdm-message.json: one sample event through a handler, offline"
	@echo "make setup     converge setup/callcenter.yaml (SETUP_FILE=...) on AEP when AEP_PLATFORM_URL is set, else on an in-process emulator, twice"
	@echo "make emulator  start the local AEP emulator (AEP_EMULATOR_PORT, default 8787)"
	@echo "make build     sam build offline (layer for python3.13 arm64), then check the built layer"
	@echo "make validate  cfn-lint and sam validate --lint"
	@echo "make bench     every benchmark in bench/ (~5 min): results in bench/results/, table in bench/results/summary.md"
	@echo "make bench-batch  the batch benchmark alone (~10 min; BENCH_BATCH_SIZES=10MB for a quick run)"
	@echo "make scan      bandit on the shipped code, checkov on the template"
	@echo "make deploy    sam deploy (uses samconfig.toml; needs AWS credentials)"
	@echo "make clean     remove build output and tool caches (.aws-sam, .mypy_cache, .ruff_cache, .pytest_cache, build/mutate);"
	@echo "               keeps the virtualenvs (.venv, .sam-venv, .aepp-venv, .scan-venv) and bench/results"
	@echo "make distclean clean, and remove the virtualenvs too (the next command reinstalls what it needs)"
	@echo "PYTHON=...     the interpreter that creates the virtualenvs (default python3; needs 3.11+)"
	@echo "make mutate    mutation testing of the core modules (slow; MODULES=\"aep.retry aep.errors\" for some, RESUME=1 to go on after an interruption, REPORT=1 for the last run's table)"

$(BIN)/.installed: requirements-dev.txt layers/aep/requirements.txt $(VENV_STALE)
	$(if $(VENV_STALE),$(call require_python,$(PYTHON)))
	@if ! sh .ci/python-ok $(BIN)/python venv >/dev/null; then \
	  if [ -e $(VENV) ]; then echo "$(VENV) is broken or too old (its python does not run as 3.11+ with its own pip): rebuilding it"; fi; \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	fi
	@echo "Installing the pinned development dependencies into $(VENV) (requirements-dev.txt; the first run takes a few minutes)..."
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@echo "$(VENV) is ready."
	@touch $@

install: $(BIN)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every function's handler is a module named app: the batch function's and the setup resource's are checked
# in runs of their own.
typecheck: install
	$(BIN)/mypy
	$(BIN)/mypy functions/batch_ingest/app.py
	$(BIN)/mypy functions/aep_setup/app.py

test: lint typecheck
	$(BIN)/pytest -n 2

demo: install
	PYTHONPATH=layers/aep:local $(BIN)/python -m demo

# The whole stack on this machine until Ctrl-C (docs/local.md). The follow-up runs every
# LOCAL_SCHEDULE_SECONDS instead of the template's rate; PARAMETERS="Name=Value ..." override the template's.
LOCAL_API_PORT ?= 3000
LOCAL_AWS_PORT ?= 4566
LOCAL_AEP_PORT ?= 8787
LOCAL_SCHEDULE_SECONDS ?= 10
local: install
	PYTHONPATH=layers/aep:local $(BIN)/python -m stack --api-port $(LOCAL_API_PORT) --aws-port $(LOCAL_AWS_PORT) \
		--aep-port $(LOCAL_AEP_PORT) --schedule-seconds $(LOCAL_SCHEDULE_SECONDS) \
		$(foreach p,$(PARAMETERS),--parameter $(p))

# One sample event through one function offline: make invoke FUNCTION=stream_ingest EVENT=events/sqs-xdm-message.json
invoke: install
	@if [ -z "$(FUNCTION)" ] || [ -z "$(EVENT)" ]; then \
	  echo "usage: make invoke FUNCTION=<logical id or folder, e.g. stream_ingest> EVENT=events/<file>.json"; exit 2; fi
	PYTHONPATH=layers/aep:local $(BIN)/python -m stack.invoke $(FUNCTION) $(EVENT)

# With AEP_PLATFORM_URL (and AEP_IMS_URL, the credential: docs/setup.md) it applies to that sandbox once;
# without, to a fresh in-process emulator twice (the second run reports no change).
SETUP_FILE ?= setup/callcenter.yaml
setup: install
	@if [ -n "$$AEP_PLATFORM_URL" ]; then \
	  PYTHONPATH=layers/aep $(BIN)/python -m aep.setup apply $(SETUP_FILE); \
	else \
	  PYTHONPATH=layers/aep:local $(BIN)/python setup/local.py $(SETUP_FILE); \
	fi

emulator: install
	PYTHONPATH=layers/aep:local $(BIN)/python -m aep_emulator --port $${AEP_EMULATOR_PORT:-8787} $(if $(CONFIG),--config $(CONFIG),)

$(SAM):
	$(call require_python,$(PYTHON))
	@echo "Installing AWS SAM CLI $(SAM_CLI_VERSION) into $(SAM_VENV) (first use only; a few minutes)..."
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q aws-sam-cli==$(SAM_CLI_VERSION)

build: $(SAM) install
	$(SAM) build --region $(REGION)
	$(BIN)/python layers/aep/check_build.py .aws-sam/build/AepLayer

validate: $(SAM) install
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --region $(REGION)

AEPP_VENV := .aepp-venv
$(AEPP_VENV)/bin/python:
	@echo "Installing aepp 0.6.0 into $(AEPP_VENV) for the side-by-side benchmarks (first use only)..."
	@echo "(aepp goes in without its dependencies, then only those the benchmarks call: pip's ERROR line about"
	@echo " aepp requiring matplotlib and others is expected)"
	$(PYTHON) -m venv $(AEPP_VENV)
	$(AEPP_VENV)/bin/python -m pip install -q --no-deps aepp==0.6.0
	$(AEPP_VENV)/bin/python -m pip install -q requests==2.34.2 deprecation==2.1.0 tenacity==9.2.1 \
		pathlib2==2.3.7.post1 pandas==3.1.1 rich==15.0.0

# Every scenario in turn (about 5 minutes on 2 cores), progress shown; results in bench/results/
# (untracked) and the table in bench/results/summary.md. BENCH_ONLY=prep,stream,... runs some steps.
bench: install $(AEPP_VENV)/bin/python
	PYTHONPATH=. $(BIN)/python bench/run_all.py

aepp-check: install $(AEPP_VENV)/bin/python
	PYTHONPATH=layers/aep:local:. $(BIN)/python bench/aepp_check.py $(AEPP_VENV)/bin/python

# The batch benchmark: NDJSON and Parquet in S3 (moto's server) through the batch function to a batch sink,
# against a raw copy and aepp's uploadSmallFile; results in bench/results/batch/ (untracked).
bench-batch: install $(AEPP_VENV)/bin/python
	PYTHONPATH=. $(BIN)/python bench/batch_bench.py

SCAN_VENV := .scan-venv
$(SCAN_VENV)/bin/checkov:
	$(call require_python,$(PYTHON))
	@echo "Installing bandit and checkov into $(SCAN_VENV) (first use only)..."
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install -q bandit==1.9.4 checkov==3.3.30

# --skip-download: checkov's built-in policies only, no attempt to fetch guidelines or external checks
# (offline, that attempt prints a traceback before the results).
scan: $(SCAN_VENV)/bin/checkov
	$(SCAN_VENV)/bin/bandit -q -r layers/aep/aep functions -s B101,B105,B311
	$(SCAN_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

deploy: build
	$(SAM) deploy

# clean removes what a build or a test run leaves behind: the SAM build (.aws-sam) and the tools' caches.
# It keeps the virtualenvs (.venv, .sam-venv, .aepp-venv, .scan-venv: slow to rebuild, and rebuilt on their
# own when broken) and the recorded benchmark results (bench/results). distclean removes the virtualenvs too.
clean:
	rm -rf .aws-sam .mypy_cache .ruff_cache .pytest_cache build/mutate

distclean: clean
	rm -rf $(VENV) $(SAM_VENV) $(AEPP_VENV) $(SCAN_VENV)

FORCE:

MUTMUT_VERSION := 3.8.1
mutate: install
	$(BIN)/python -m pip install -q mutmut==$(MUTMUT_VERSION)
	$(BIN)/python .ci/mutate.py $(if $(RESUME),--resume) $(if $(REPORT),--report) $(MODULES)
