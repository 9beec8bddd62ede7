# Quickstart: `make demo` (set up + train a small Equiformer on QM9) and `make test` (set up + tests).
# Everything installs into .venv; torch is installed first, exactly as torch==2.13.0 (CPU wheel).

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow benchmark clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), sys.version' 2>/dev/null || \
		{ echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test,xtb,bio]" "torch==2.13.0"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python benchmarks/demo_qm9.py

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=900

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m slow --timeout=3600

benchmark: $(STAMP)
	$(BIN)/python benchmarks/speed.py

clean:
	rm -rf $(VENV) runs *.egg-info
