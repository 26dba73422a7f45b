# The two commands that matter: `make demo` and `make test`. Both set everything up themselves.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PACKAGES := sandbox
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)

.PHONY: demo test lint setup sandboxes clean

## Set up, generate a dataset, start both sandboxes, show a few real API calls, stop.
demo: $(VENV)/.installed
	$(BIN)/python scripts/demo.py

## Every test (ruff, then all packages' tests and the end-to-end tests).
test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/pytest -q -p no:cacheprovider sandbox/tests tests

## Keep both sandboxes running in the foreground (Ctrl-C stops them).
sandboxes: $(VENV)/.installed
	$(BIN)/python scripts/demo.py --serve-only

setup: $(VENV)/.installed

$(VENV)/.installed: $(PYPROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python $(foreach p,$(PACKAGES),-e './$(p)[test]') ruff==0.17.6
	touch $@

lint: $(VENV)/.installed
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data output
