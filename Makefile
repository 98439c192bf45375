# The README's commands. Everything runs from a virtual environment in .venv made with python3.11.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test dev serve bench clean
.PHONY: test-topology

# setup.py compiles ingestion's fast path (analytics_pipeline/ingestion/_fastpath.c).
$(STAMP): pyproject.toml setup.py analytics_pipeline/ingestion/_fastpath.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## make demo: set up, generate demo events, run the whole graph on SQLite + embedded cache
demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/analytics-pipeline demo

## make test: set up and run the test suite (what .ci/run calls)
test: $(STAMP)
	$(BIN)/pytest -n 2 -q -m "not topology"

## make test-topology: the production topology of deploy/ on PostgreSQL and RabbitMQ (about 2 minutes)
test-topology: $(STAMP)
	$(BIN)/pytest -p no:xdist -q -m topology analytics_pipeline_tests/deploy

## make dev: open the Dagster UI on the same data
dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

## make serve: the HTTP API and dashboard on http://127.0.0.1:8000, on the same data as make demo
serve: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/analytics-pipeline serve

## make bench: run every benchmark at full size (prints tables; about 30 minutes; see README)
bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/aggregate.py
	$(BIN)/python benchmarks/retention.py
	$(BIN)/python benchmarks/event_keys.py
	$(BIN)/python benchmarks/cache.py
	$(BIN)/python benchmarks/reports.py
	$(BIN)/python benchmarks/scale.py --sizes 1000000 5000000

clean:
	rm -rf $(VENV) data .dagster_home
