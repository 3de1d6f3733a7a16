# choreo-controller -- every target is a plain command you can also run by hand.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: install
install: $(VENV)/.installed ## Create .venv and install the package with its test tools

.PHONY: binaries
binaries: ## Build the pinned Kubernetes/etcd/kwok/Argo binaries into ~/.cache/choreo-controller (idempotent)
	hack/build-binaries.sh

.PHONY: lint
lint: install ## ruff, ruff format --check, mypy --strict, import-linter
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

.PHONY: test
test: install binaries lint ## Lint, then every test: unit, real-cluster integration and end-to-end
	hack/run-tests.sh $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## Only the tests that need no cluster (fast)
	$(PY) -m pytest -m "not cluster" $(PYTEST_ARGS)

.PHONY: planes
planes: install binaries ## Start a local control plane + build plane and print their kubeconfigs (Ctrl-C stops)
	$(PY) hack/planes.py

DEMO_ARGS ?=
.PHONY: demo
demo: install ## Quickstart: both planes, the controller and a sample run followed live to Succeeded (Ctrl-C stops)
	$(PY) hack/demo.py $(DEMO_ARGS)

.PHONY: demo-stop
demo-stop: ## Stop a `make demo` running in another terminal
	$(PY) hack/demo.py --stop

.PHONY: cli-reference
cli-reference: install ## Regenerate docs/cli-reference.md from the argparse definitions
	$(PY) hack/gen-cli-reference.py

.PHONY: clean
clean: ## Remove the virtualenv and caches (not the binary cache)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info .demo
