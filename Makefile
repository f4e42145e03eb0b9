# Dr.Gero developer commands. Every target sets up .venv (Python 3.12, like the Lambda runtime)
# on first use, so a fresh clone needs nothing but `make local` or `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

# Find a Python 3.12: $PYTHON if given, then python3.12 on PATH, then pyenv's 3.12.x.
PYTHON ?= $(shell \
  for c in python3.12 "$$(pyenv root 2>/dev/null)/versions/3.12.1/bin/python3" \
           $$(ls -d "$$(pyenv root 2>/dev/null)"/versions/3.12.*/bin/python3 2>/dev/null); do \
    if [ -x "$$(command -v $$c 2>/dev/null)" ] && "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then \
      echo "$$c"; break; fi; done)

.PHONY: help venv browser local demo test test-fast lint lock bench build clean screenshots

help:
	@echo "make local   set up and run the local cloud on http://127.0.0.1:3000 (Ctrl-C stops it; ARGS=\"--api-port 3001\")"
	@echo "make demo    set up and run the scripted product tour against a fresh local cloud"
	@echo "make test    set up, run the lint gates (make lint), then the whole test suite"
	@echo "make lint    ruff (lint, complexity, format), the import-layer contract, cfn-lint, checkov"
	@echo "make lock    refresh requirements.lock and the layer's pins to the newest allowed versions"
	@echo "make bench   benchmarks in <= 10 min (numbers printed, nothing asserted; BENCH=\"cold_start inference\" picks some, BENCH_FULL=1 for the modules' full defaults)"
	@echo "make build   sam build (no Docker needed)"
	@echo "make browser install the OS's chromium + chromium-driver for the dashboard's browser tests (apt-get)"
	@echo "make screenshots  regenerate the dashboard screenshots of docs/dashboard.md (docs/img/dashboard/)"

# Installs exactly the versions of requirements.lock (what passed `make test`), so a clean clone
# next month gets the same environment. To move to newer versions: `make lock`, then `make test`,
# and commit requirements.lock and layers/deps/requirements.txt together.
$(STAMP): pyproject.toml layers/deps/requirements.txt requirements.lock
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: Python 3.12 not found (the Lambda runtime is python3.12)." >&2; \
	  echo "       install it (e.g. 'pyenv install 3.12') or run: make PYTHON=/path/to/python3.12 ..." >&2; \
	  exit 1; fi
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON)"; "$(PYTHON)" -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# The dashboard's browser tests (tests/browser) drive the operating system's Chromium through
# its matching chromium-driver: installed once from the distribution's packages, never
# downloaded at test time. Nothing happens when both are already there.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
	  echo "chromium and chromium-driver: present"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	else \
	  echo "error: install chromium and its chromium-driver (same version) with your package manager" >&2; exit 1; \
	fi

# docs/dashboard.md's pictures: the browser journey with screenshots on (a local cloud on free ports).
screenshots: $(STAMP) browser
	DRGERO_SCREENSHOTS=docs/img/dashboard $(PY) -m pytest tests/browser -n 0 -p no:randomly -q -m slow

local: $(STAMP)
	$(VENV)/bin/drgero local $(ARGS)

demo: $(STAMP)
	$(PY) -m localcloud.demo

# The lint gates run first (what .ci/run calls is `make test`): none of them can rot.
test: $(STAMP) browser lint
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lint: $(STAMP) $(CHECKOV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -f template.yaml

# checkov lives in its own venv: it pins urllib3 1.x, the dashboard's selenium needs 2.x. Its
# exact versions are in checkov.lock (refresh: recreate the venv with a newer checkov, then
# `$(CHECKOV_VENV)/bin/pip freeze > checkov.lock`).
$(CHECKOV_STAMP): checkov.lock
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.12 not found (see 'make venv')." >&2; exit 1; fi
	@test -x $(CHECKOV_VENV)/bin/python || { echo "creating $(CHECKOV_VENV) with $(PYTHON)"; "$(PYTHON)" -m venv $(CHECKOV_VENV); }
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r checkov.lock
	@touch $(CHECKOV_STAMP)

# A fresh environment of .[dev] at the newest versions pyproject allows (moto stays at its exact
# pin), frozen into requirements.lock; layers/deps/requirements.txt is pinned to the same
# versions (drgero_ops.lock). Review the diff, run `make test`, commit both files.
LOCK_VENV := .venv-lock
lock:
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.12 not found (see 'make venv')." >&2; exit 1; fi
	rm -rf $(LOCK_VENV)
	"$(PYTHON)" -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet -e '.[dev]'
	$(LOCK_VENV)/bin/python -m pip freeze --exclude-editable > $(LOCK_VENV)/freeze.txt
	$(LOCK_VENV)/bin/python -m drgero_ops.lock $(LOCK_VENV)/freeze.txt
	rm -rf $(LOCK_VENV)

# --quick: the whole set in <= 10 minutes (bench/__main__.py QUICK); BENCH_FULL=1 runs each
# module's own defaults (longer, steadier medians).
bench: $(STAMP)
	$(PY) -m bench $(if $(BENCH_FULL),,--quick) $(BENCH)

# The AWS SAM CLI lives in its own venv: its pins conflict with ours. sam's python builder
# needs python3.12 on PATH (no Docker), so the found 3.12 interpreter's bin dir goes first.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_ENV = PATH="$$("$(PYTHON)" -c 'import os, sys; print(os.path.dirname(sys.executable))'):$$PATH" \
  SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="$${AWS_DEFAULT_REGION:-us-east-1}"

$(SAM_STAMP):
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.12 not found (see 'make venv')." >&2; exit 1; fi
	@test -x $(SAM_VENV)/bin/python || { echo "creating $(SAM_VENV) with $(PYTHON)"; "$(PYTHON)" -m venv $(SAM_VENV); }
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli
	@touch $(SAM_STAMP)

build: $(STAMP) $(SAM_STAMP)
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint
	$(SAM_ENV) $(SAM_VENV)/bin/sam build

clean:
	rm -rf $(VENV) .venv-sam .venv-lock .aws-sam .drgero .pytest_cache .ruff_cache .import_linter_cache
