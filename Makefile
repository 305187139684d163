# crashlab: every target calls the crashlab CLI or the project's own scripts.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CRASHLAB := $(VENV)/bin/crashlab
STAMP := $(VENV)/.crashlab-installed
SPEED ?= 1

.PHONY: doctor setup test lint drill drill-compare gameday up down status bench schema clean help

help:
	@echo "make drill          replay the five-crash incident on the embedded stack and write its post-mortem"
	@echo "make test           run the whole test suite"
	@echo "make lint           ruff + mypy --strict"
	@echo "make drill-compare  naive vs hardened five-crash drills and their comparison page"
	@echo "make gameday        a game day (GAMEDAY=scenarios/gameday/five-crash.yaml): consoles for the team and you"
	@echo "make up / down      the Docker stack (Prometheus, Loki, Tempo, Grafana)"
	@echo "make setup          .venv and system packages (prometheus, alertmanager, nftables, chromium, ...)"
	@echo "make doctor         check the binaries and kernel features crashlab relies on"
	@echo "make bench          the benchmarks under bench/"

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh crashlab/system-packages.txt
	bash scripts/setup.sh "$(VENV)"
	@touch $(STAMP)

# The drills in the suite mostly wait on their timelines: several xdist workers share the files
# (tests/scheduling.py: a file per worker, the heavy drills first and a few at a time).
TEST_WORKERS ?= 4
test: setup
	$(VENV)/bin/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check crashlab service chaos stack reports gameday tests bench
	$(VENV)/bin/ruff format --check crashlab service chaos stack reports gameday tests bench
	$(VENV)/bin/mypy crashlab service chaos stack reports gameday

drill: setup
	$(CRASHLAB) drill scenarios/five-crash.yaml --speed $(SPEED) --report

drill-compare: setup
	$(CRASHLAB) drill scenarios/five-crash.yaml --speed $(SPEED) --report --link latest-naive
	$(CRASHLAB) drill scenarios/five-crash-hardened.yaml --speed $(SPEED) --report --link latest-hardened
	$(CRASHLAB) compare runs/latest-naive runs/latest-hardened

GAMEDAY ?= scenarios/gameday/five-crash.yaml
gameday: setup
	$(CRASHLAB) gameday $(GAMEDAY) --speed $(SPEED) --report $(GAMEDAY_ARGS)

up: setup
	$(CRASHLAB) up --runtime docker

down: setup
	$(CRASHLAB) down --runtime docker

status: setup
	$(CRASHLAB) status

doctor: setup
	$(CRASHLAB) doctor

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

schema: setup
	$(CRASHLAB) schema > scenarios/schema.json

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
