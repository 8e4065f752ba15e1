# Ordersource developer entry points: `make run` and `make test` are the two set-up commands.
# Everything runs from the repo root, inside .venv; Kafka comes as Maven jars (.cache/).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := shared command-service query-service projector
PYTEST_ARGS ?=
# Sources and scripts the shell linter checks (only if shellcheck is installed in .venv).
SHELL_SCRIPTS := .ci/run deploy/local/run deploy/local/stop deploy/local/status \
  deploy/local/lib.sh deploy/local/prerequisites deploy/local/create-topics deploy/local/fetch-kafka deploy/compose/kafka-topics \
  $(wildcard deploy/local/bin/*)

.PHONY: help prerequisites browser install kafka-libs run stop status run-cluster stop-cluster status-cluster test lint typecheck pytest unit component \
  integration e2e clean test-all fault bench bench-restart bench-capacity docs

help:
	@echo "make prerequisites  apt-get install redis-server, JDK 17, Maven, curl if missing (as root)"
	@echo "make install      venv + editable install (re-runs only when requirements change)"
	@echo "make run          start Kafka, Redis, the four services and the console"
	@echo "make stop         stop them; make status shows which are alive"
	@echo "make run-cluster  3 Kafka nodes (RF 3) and 2 of each process (make stop-cluster, status-cluster)"
	@echo "make start-NAME / stop-NAME   one of: kafka redis decider command-api projector query-api console"
	@echo "make test         lint + typecheck + pytest minus the slow tests (own Kafka/Redis on free ports)"
	@echo "make unit|component|integration|e2e   one test layer (PYTEST_ARGS=... to add options)"
	@echo "make test-all     like make test, plus the slow tests (every fault test included)"
	@echo "make fault        every fault-injection test; table in bench/results/faults-<time>.md"
	@echo "make bench        throughput, latency, replay, memory against same-run ceilings"
	@echo "                  (own Kafka/Redis/services on free ports; ~16 min; BENCH_QUICK=1: ~5 min)"
	@echo "make bench-restart  decider restart after kill -9, 1M and 10M events (~1 h; BENCH_QUICK=1)"
	@echo "make bench-capacity  CPU per command/read, bytes per event/order, scaling plan (~6 min; BENCH_QUICK=1)"
	@echo "make docs         regenerate docs/ reference pages (configuration, API, metrics) from the code"
	@echo "make clean        stop everything and delete .state/ (keeps .cache/ and .venv/)"

# System packages (redis-server, JDK >= 17, Maven, curl): installed with apt as root when
# missing, otherwise one line says what to install. Instant when all are there.
prerequisites:
	@PY=$(PY) deploy/local/prerequisites

# The test targets also need a browser (the console's tests drive Debian's chromium).
browser:
	@PY=$(PY) deploy/local/prerequisites --browser

install: $(VENV)/.installed

$(BIN)/python:
	$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is needed: make PY=python3.11 ...")'
	$(PY) -m venv $(VENV)

# The stamp is touched only after a successful install, so a failed one is retried.
$(VENV)/.installed: constraints.txt requirements-dev.txt $(wildcard pyproject.toml) \
  $(PACKAGES:%=%/pyproject.toml) | $(BIN)/python
	$(BIN)/pip install -c constraints.txt $(PACKAGES:%=-e ./%) -r requirements-dev.txt
	touch $@

# Idempotent and instant once the jars are cached.
kafka-libs:
	@deploy/local/fetch-kafka >/dev/null

run: prerequisites install kafka-libs
	deploy/local/run

stop:
	deploy/local/stop

# Scale-out on one machine: three Kafka nodes (RF 3, min ISR 2) and two of each process,
# in .state/cluster/ on ports of their own (deploy/local/lib.sh), beside or instead of make run.
run-cluster: prerequisites install kafka-libs
	ORDERS_LOCAL_LAYOUT=cluster deploy/local/run

stop-cluster:
	ORDERS_LOCAL_LAYOUT=cluster deploy/local/stop

status-cluster:
	@ORDERS_LOCAL_LAYOUT=cluster deploy/local/status

status:
	@deploy/local/status

start-%:
	deploy/local/run $*

stop-%:
	deploy/local/stop $*

test: prerequisites browser install kafka-libs lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	if [[ -x $(BIN)/shellcheck ]]; then $(BIN)/shellcheck -x $(SHELL_SCRIPTS); fi

typecheck: install
	$(BIN)/mypy

# `make test` leaves out the `slow` tests (long fault runs); a quick fault subset stays in.
pytest: prerequisites browser install kafka-libs
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-all: prerequisites browser install kafka-libs lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

# Every `fault` test (slow ones included); the results table is printed and written here.
fault: prerequisites install kafka-libs
	ORDERS_FAULT_REPORT=bench/results/faults-$$(date -u +%Y%m%dT%H%M%SZ).md \
	  $(BIN)/pytest -m fault $(PYTEST_ARGS)

unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

component integration e2e: prerequisites browser install kafka-libs
	$(BIN)/pytest tests/$@ $(PYTEST_ARGS)

# The reference pages generated from the code (a unit test fails when they are stale).
docs: install
	$(BIN)/python -m tools.docs

# Not part of `make test`: no timing assertions in pytest. Results in bench/results/.
bench: prerequisites install kafka-libs
	$(BIN)/python -m bench.run

# The decider's restart after kill -9 with 1M and 10M events in the log (bench/restart.py;
# own stack like `make bench`). BENCH_QUICK=1: 100k and 300k events, a few minutes.
bench-restart: prerequisites install kafka-libs
	$(BIN)/python -m bench.restart $(if $(filter-out 0,$(BENCH_QUICK)),--quick)

# Per-process CPU per command and per read, Kafka and Redis bytes per event and order, and
# the capacity plan from them (bench/capacity.py; own stack like `make bench`; ~6 min,
# BENCH_QUICK=1: 2-3 min). The plan's tables again: python -m bench.capacity --report FILE.
bench-capacity: prerequisites install kafka-libs
	$(BIN)/python -m bench.capacity $(if $(filter-out 0,$(BENCH_QUICK)),--quick)

clean: stop stop-cluster
	rm -rf .state
