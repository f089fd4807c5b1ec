# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint bench clean

$(VENV)/.base: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "envfactory needs Python >= 3.11 (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	@touch $@

$(VENV)/.test: $(VENV)/.base
	$(PIP) install -e ".[test]"
	@touch $@

demo: $(VENV)/.base            ## verify all environments, synthesize 20 trajectories offline over MCP, export SFT data
	$(BIN)/envfactory demo --n 20 --seed 0 --out runs/demo

CONFORMANCE := ../shared/tools/mcp-conformance/run

test: $(VENV)/.test            ## lint and type-check, then the whole suite in parallel (import rules included)
	$(BIN)/ruff check .
	$(BIN)/mypy
	@# fetch the conformance suite and Inspector (npm registry) once, so parallel tests never race on the download
	@if [ -x $(CONFORMANCE) ] && command -v npm >/dev/null; then $(CONFORMANCE) --inspector --help >/dev/null 2>&1 || true; fi
	$(BIN)/python -m pytest -n auto

lint: $(VENV)/.test            ## ruff, mypy and the import rules of docs/architecture.md, without the suite
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q tests/test_architecture.py

bench: $(VENV)/.base
	$(BIN)/python benchmarks/runtime.py

clean:
	rm -rf runs .pytest_cache .ruff_cache .mypy_cache
