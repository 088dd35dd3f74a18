# Every command the README mentions is a target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
VENV        := .venv
# Airflow's own environment, apart from the project's (infra/airflow/)
AIRFLOW_VENV := .airflow-venv
PY          := $(VENV)/bin/python
UV          := $(VENV)/bin/uv
LAKEHOUSE   := $(VENV)/bin/lakehouse
JARS_DIR    := .jars
POM         := infra/jvm/pom.xml
# Delta's DynamoDB log store, compiled from Delta's source (its README says why)
DDB_POM     := infra/jvm/delta-storage-s3-dynamodb/pom.xml
DDB_SOURCES := $(shell find infra/jvm/delta-storage-s3-dynamodb/src -name '*.java')

DEMO_DIR      ?= data/demo
DEMO_SESSIONS ?= 100000
DEMO_TRANSACTIONS ?= 60000
BENCH_DOCS    ?= 1000000
BENCH_TRANSACTIONS ?= 2000000
BENCH_ACCOUNTS ?= 50000
PYTEST_ARGS   ?=

.PHONY: help setup venv jars tools airflow services-deps services demo serve test lint format monitoring-manifests bench-sessions bench-payments bench-s3 bench-cluster bench-stream bench-incremental bench-encryption bench-serving bench-inference-log bench-online-store lock lock-airflow clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt
	$(PYTHON_BOOT) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip install --quiet --python $(PY) -c constraints.txt -e '.[batch,serving,dev]'
	@touch $@

venv: $(VENV)/.installed ## Create .venv and install the pinned Python packages

$(JARS_DIR)/.fetched: $(POM) $(DDB_POM) $(DDB_SOURCES)
	mvn --batch-mode --quiet -f $(POM) dependency:copy-dependencies
	mvn --batch-mode --quiet -f $(DDB_POM) package
	@touch $@

jars: $(JARS_DIR)/.fetched ## Fetch the pinned JVM jars (Delta, hadoop-aws + AWS SDK) into .jars/; build Delta's DynamoDB log store

setup: venv jars ## Everything a fresh clone needs: virtualenv, packages, jars

$(AIRFLOW_VENV)/.installed: infra/airflow/requirements.in infra/airflow/constraints.txt $(VENV)/.installed
	$(UV) venv --quiet --allow-existing --python $(PYTHON_BOOT) $(AIRFLOW_VENV)
	$(UV) pip install --quiet --python $(AIRFLOW_VENV)/bin/python -c infra/airflow/constraints.txt -r infra/airflow/requirements.in
	@touch $@

airflow: $(AIRFLOW_VENV)/.installed ## Airflow and its Spark provider in .airflow-venv, for the DAGs in infra/airflow/dags

# The validators the tests run on the deployment files, built from the Go module proxy
tools: ## Build the pinned validators (infra/tools/go-tools.txt) into .tools/bin
	infra/tools/install-go-tools.sh

# The tests start real servers on loopback (tests/support/servers.py): moto comes with the dev
# packages, PostgreSQL from Debian (its programs live in /usr/lib/postgresql/<version>/bin).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
services-deps: ## Install what the tests need from Debian when missing: PostgreSQL, Redis, Prometheus Pushgateway, promtool, shellcheck
	@missing=""; \
	  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	    missing="$$missing postgresql"; \
	  command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	  command -v prometheus-pushgateway >/dev/null 2>&1 || missing="$$missing prometheus-pushgateway"; \
	  command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	  command -v shellcheck >/dev/null 2>&1 || missing="$$missing shellcheck"; \
	  if [ -n "$$missing" ]; then \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	  fi

services: setup services-deps ## Start moto (S3, DynamoDB, Secrets Manager), PostgreSQL and an mlflow server; print the env
	$(PY) -m tests.support.servers

demo: setup ## Generate sample data, run the whole pipeline as it arrives, print what it built
	$(LAKEHOUSE) demo --workdir $(DEMO_DIR) --sessions $(DEMO_SESSIONS) --transactions $(DEMO_TRANSACTIONS)

serve: setup ## Start the prediction service on the demo's lake (run `make demo` first)
	$(LAKEHOUSE) serve --lake $(DEMO_DIR)/lake

monitoring-manifests: venv ## Render the Grafana dashboards and the Kubernetes PrometheusRule from their sources
	$(PY) infra/monitoring/dashboards.py
	$(PY) infra/monitoring/render_k8s.py

lint: venv ## Static checks (ruff lint + format check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Two pytest-xdist workers, each taking whole test modules (a module's fixtures build its lake
# once) in the order tests/conftest.py gives them, the longest first (xdist would otherwise
# order them by their number of tests); the slowest tests, then the longest modules, are
# listed at the end.
# TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: setup lint services-deps tools airflow ## Set up and run the whole test suite
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 $(PYTEST_ARGS)

bench-sessions: setup ## Benchmark the sessions pipeline on BENCH_DOCS documents vs Spark's floor
	$(PY) benchmarks/bench_sessions.py --documents $(BENCH_DOCS)

bench-payments: setup ## Benchmark payments Bronze->Gold and point-in-time vs naive Gold
	$(PY) benchmarks/bench_payments.py --transactions $(BENCH_TRANSACTIONS) --accounts $(BENCH_ACCOUNTS)

BENCH_S3_DOCS ?= 200000
bench-s3: setup ## Benchmark the sessions pipeline on a local S3 server (moto) vs the local file system
	$(PY) benchmarks/bench_s3.py --documents $(BENCH_S3_DOCS)

BENCH_CLUSTER_DOCS ?= 200000
BENCH_CLUSTER_TRANSACTIONS ?= 200000
bench-cluster: setup ## Benchmark the hourly jobs on a standalone cluster: 1 worker vs 2
	$(PY) benchmarks/bench_cluster.py --documents $(BENCH_CLUSTER_DOCS) --transactions $(BENCH_CLUSTER_TRANSACTIONS)

bench-stream: setup ## Freshness of `lakehouse stream`: from a file landing to its rows in Gold (p50, p99)
	$(PY) benchmarks/bench_stream_freshness.py

bench-incremental: setup ## A 1% increment, landing to Gold for both sources, against the full build (and the driver's memory at 1/10 the lake)
	$(PY) benchmarks/bench_incremental.py --documents $(BENCH_DOCS) --transactions $(BENCH_TRANSACTIONS) --accounts $(BENCH_ACCOUNTS) --scales 0.1,1

bench-encryption: setup ## What encrypting the raw zones costs: ingest and Silver's tokens, clear vs encrypted
	$(PY) benchmarks/bench_encryption.py --documents $(BENCH_DOCS)

bench-serving: setup ## Benchmark the prediction service against `mlflow models serve` (same model versions)
	$(PY) benchmarks/bench_serving.py

# the open-loop load generator, built from the Go module proxy
VEGETA := github.com/tsenart/vegeta/v12@v12.13.0
bench-inference-log: setup ## The inference log's cost to the service: log off vs on, open-loop (vegeta)
	infra/tools/install-go-tools.sh $(VEGETA)
	$(PY) benchmarks/bench_inference_log.py $(if $(LAKE),--lake $(LAKE))

bench-online-store: setup services-deps ## The fraud state in the process vs shared in Redis by two replicas, open-loop (vegeta)
	infra/tools/install-go-tools.sh $(VEGETA)
	$(PY) benchmarks/bench_online_store.py $(if $(LAKE),--lake $(LAKE))

lock: ## Re-resolve constraints.txt from setup.cfg (needs network)
	$(UV) pip compile --quiet --python-version 3.11 setup.cfg --extra batch --extra serving --extra dev --extra server -o constraints.txt

lock-airflow: ## Re-resolve infra/airflow/constraints.txt from infra/airflow/requirements.in (needs network)
	$(UV) pip compile --quiet --python-version 3.11 infra/airflow/requirements.in -o infra/airflow/constraints.txt

clean: ## Remove the virtualenv, jars and generated data
	rm -rf $(VENV) $(AIRFLOW_VENV) $(JARS_DIR) .tools data spark-warehouse *.egg-info .pytest_cache .ruff_cache
