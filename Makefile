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

.PHONY: run test synth deps docs clean

run: synth
	$(PY) -m localcloud plan cdk.out

test: deps
	$(PY) -m pytest

synth: deps
	$(CDK) synth --quiet --no-notices

# Generated documentation (tests fail when a committed copy is stale).
docs: deps
	$(PY) -m engagement.data_dictionary docs/data_dictionary.md

deps: $(VENV)/.deps-installed $(VENV)/.paths-installed node_modules/.package-lock.json

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

clean:
	rm -rf cdk.out .pytest_cache
