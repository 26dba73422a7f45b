# The two commands that matter: `make demo` and `make test`. Both set everything up themselves.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PACKAGES := sandbox tap-topdesk transform target-intercom cli testing
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
TEST_PATHS := sandbox/tests tap-topdesk/tests transform/tests target-intercom/tests cli/tests bench/tests tests
# Meltano gets its own venv: its dependencies must never constrain singer-sdk's in .venv (it installs the plugins
# into venvs of their own under .meltano/ anyway).
MELTANO_VENV := .venv-meltano
MELTANO_VERSION := 4.4.1
# The gates' tools, pinned: the linter/formatter, the type checker and the stubs of the libraries it checks against.
LINT_TOOLS := ruff==0.17.6 mypy==1.19.1 types-PyYAML==6.0.12.20261122 types-requests==2.33.0.20261030 \
	types-tqdm==4.70.0.20261106 types-jsonschema==4.26.0.20261006

.PHONY: demo test test-fast lint setup meltano sandboxes bench bench-quick bench-tap bench-target clean

## Set up, then the whole migration story on local sandboxes (audit ... rollback, handoff); reports in reports/demo/.
demo: $(VENV)/.installed $(MELTANO_VENV)/.installed
	$(BIN)/python scripts/demo.py

## Every test (the lint gates, then all packages' tests and the end-to-end tests). Two pytest-xdist workers: most
## tests wait on sandboxes' latency and subprocesses, so two share a 2-core machine well (each test process has its
## own free ports, temporary directories, Meltano system dir and PostgreSQL schema).
PYTEST := $(BIN)/pytest -q -p no:cacheprovider --numprocesses 2 --dist worksteal
test: lint $(MELTANO_VENV)/.installed
	$(PYTEST) --durations=25 $(TEST_PATHS)

## The tests that are not end to end (the topdesk2intercom_testing plugin marks those `e2e`): under two minutes; no lint, no Meltano.
test-fast: $(VENV)/.installed
	$(PYTEST) -m "not e2e" $(TEST_PATHS)

## Keep both sandboxes running in the foreground (Ctrl-C stops them).
sandboxes: $(VENV)/.installed
	$(BIN)/python scripts/demo.py --serve-only

setup: $(VENV)/.installed

## Meltano itself (pinned) in .venv-meltano; then e.g. `.venv-meltano/bin/meltano run tap-topdesk target-jsonl`.
meltano: $(MELTANO_VENV)/.installed

## Every benchmark (issue #7): extraction tap-topdesk vs tap-rest-api-msdk on 10k/100k/1M records, load at Intercom's
## rate limit, `meltano run` on 10k/100k; tables printed and written to bench/results/latest.{md,json}. Long; not a test.
bench: $(VENV)/.installed $(MELTANO_VENV)/.installed
	$(BIN)/python bench/run

## The same, reduced (2k/10k records, 600-call load, 2k pipeline): a few minutes.
bench-quick: $(VENV)/.installed $(MELTANO_VENV)/.installed
	$(BIN)/python bench/run --quick

## Benchmark the tap against a 50k-call sandbox dataset (generated into data/bench50k once); not a test.
bench-tap: $(VENV)/.installed
	$(BIN)/python bench/tap_extract.py

## Benchmark tap | target-intercom against an Intercom sandbox at 10,000 requests/min, 150 ms latency (2k calls,
## data/bench-target2k generated once): rate budget used, 429s, API calls per record; not a test.
bench-target: $(VENV)/.installed
	$(BIN)/python bench/target_load.py

$(VENV)/.installed: $(PYPROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python $(foreach p,$(PACKAGES),-e './$(p)[test]') $(LINT_TOOLS)
	touch $@

$(MELTANO_VENV)/.installed: $(VENV)/.installed
	test -x $(MELTANO_VENV)/bin/python || $(PYTHON) -m venv $(MELTANO_VENV)
	$(BIN)/uv pip install --quiet --python $(MELTANO_VENV)/bin/python meltano==$(MELTANO_VERSION)
	touch $@

## The gates: ruff's rules (complexity budget included), one format for every package, the type checker (mypy.ini).
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(MELTANO_VENV) .meltano data output
