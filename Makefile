# Two entry points for a fresh machine: `make run` and `make test`.
# Both create the Python venv and node_modules from the pinned files when missing or stale.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
# Node 20 (what these machines ship) is past end of life and jsii prints a banner on every
# synth; package.json pins a supported Node that the CDK CLI and jsii pick up from PATH.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: print-% run erase test unit infra e2e synth synth-local deploy-local deps docs lambda-layer checkov clean

ROWS ?= 100000
INPUT ?=
# Your own CSV (make run INPUT=FILE.csv) or ROWS generated customers.
RUN_SOURCE = $(if $(INPUT),--input $(INPUT),--rows $(ROWS))

# What the local cloud deploys: no termination protection (a throwaway cloud) and a registry image
# URI in place of building the ML image (no Docker here); the local cloud runs that image from its
# Dockerfile (LOCAL_IMAGES).
ML_IMAGE := engagement-ml:local
LOCAL_CONTEXT := -c terminationProtection=false -c mlImageUri=$(ML_IMAGE)
# More context for the local app (make synth-local CONTEXT="-c stageMemoryMb=1024 -c taskMemoryMib=4096").
CONTEXT ?=
LOCAL_IMAGES := --image $(ML_IMAGE)=ml_container/Dockerfile
# There is no Bedrock locally: the assistant's Converse calls are answered by the deterministic
# stand-in in planner/ (on AWS, the Bedrock model).
LOCAL_MODEL := --converse planner:converse

# Start the embedded local cloud, deploy the app to it with cdklocal, generate ROWS customers (or
# take INPUT), run the state machine.
run: synth-local
	$(PY) -m localcloud plan cdk.out.local
	$(PY) -m engagement_cli run --assembly cdk.out.local $(RUN_SOURCE) $(LOCAL_IMAGES) $(LOCAL_MODEL)
	@echo "what this run would cost on AWS, and a month of them: $(PY) -m cost"

# Deploy with cdklocal and keep serving (for aws --endpoint-url / awslocal); stop with Ctrl-C or
# `python -m localcloud down`.
deploy-local: synth-local
	$(PY) -m localcloud up --assembly cdk.out.local $(LOCAL_IMAGES) $(LOCAL_MODEL)

# Erase one customer (make erase ID=CUST-00000042) from the cloud deploy-local or run --serve
# serves, with this session's keys, and from the generated data.
erase: deps
	@test -n "$(ID)" || { echo "usage: make erase ID=CUST-00000042" >&2; exit 2; }
	eval "$$($(PY) -m localcloud env)" && $(PY) -m engagement.erasure $(ID) \
		$(foreach copy,$(wildcard .localcloud/data/customers.csv .localcloud/data/customers.parquet),--local-copy $(copy))

# Tests in tiers: unit (no cloud), infra (synthesis, cdk-nag, checkov), e2e (the local cloud).
# `make test` runs all three in one session; it is what CI runs.
test: deps
	$(PY) -m pytest tests/unit tests/infra tests/e2e

unit: deps
	$(PY) -m pytest tests/unit

infra: deps
	$(PY) -m pytest tests/infra

e2e: deps
	$(PY) -m pytest tests/e2e

synth: deps
	$(CDK) synth --quiet --no-notices

# The lean profile (docs/costs.md), for the cost report's comparison.
synth-lean: deps
	$(CDK) synth --quiet --no-notices --output cdk.out.lean -c profile=lean

synth-local: deps
	$(CDK) synth --quiet --no-notices --output cdk.out.local $(LOCAL_CONTEXT) $(CONTEXT)

# Generated documentation (tests fail when a committed copy is stale).
docs: synth synth-lean
	$(PY) -m engagement.data_dictionary docs/data_dictionary.md
	$(PY) -m tools.pipeline_doc cdk.out docs/pipeline.md
	$(PY) -m cost.doc cdk.out cdk.out.lean docs/cost_run.json docs/cost.md
	$(PY) -m tools.settings_doc README.md

deps: $(VENV)/.deps-installed $(VENV)/.paths-installed node_modules/.package-lock.json lambda-layer checkov

# checkov scans the synthesized templates in the tests; its own venv, as its pins clash with ours.
CHECKOV_VENV := .venv-checkov
checkov: $(CHECKOV_VENV)/.installed

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-checkov.txt
	@touch $@

$(VENV)/.deps-installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || { echo "creating $(VENV) with $$($(PYTHON) --version)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# The repo root (app, stacks, datagen, localcloud), runtime/ (shared domain package, also the
# Lambda asset root) and ml_container/ (the training image's code) are importable in the venv.
$(VENV)/.paths-installed: $(VENV)/.deps-installed
	printf '%s\n' "$(CURDIR)" "$(CURDIR)/runtime" "$(CURDIR)/ml_container" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/engagement-platform.pth"
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# The Lambda layer (pyarrow, numpy, Powertools) from manylinux wheels: no Docker needed.
# Parts no stage uses are removed to stay under Lambda's 250 MB limit (about 180 MB remain).
LAYER := build/lambda-layer
lambda-layer: $(LAYER)/.built

$(LAYER)/.built: requirements-lambda-layer.txt | $(VENV)/.deps-installed
	rm -rf $(LAYER)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
		--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
		--python-version 3.11 --implementation cp --target $(LAYER)/python -r requirements-lambda-layer.txt
	cd $(LAYER)/python && rm -rf pyarrow/include pyarrow/tests pyarrow/_flight* pyarrow/libarrow_flight* \
		numpy/tests numpy/*/tests && find . \( -name '*.pyx' -o -name '*.pxd' -o -name '*.h' \) -delete \
		&& find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@du -sh $(LAYER) && touch $@

clean:
	rm -rf cdk.out cdk.out.local .pytest_cache build

# `make -s print-LOCAL_IMAGES`: a setting as the Makefile states it (tests read the local images so).
print-%:
	@echo '$($*)'
