# Compliance Registry: `make run` serves the register on http://127.0.0.1:8000/,
# `make test` runs every check CI runs. Both start from nothing but Python 3.11.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# A failed venv creation must not leave a .venv/bin/python that looks finished.
.DELETE_ON_ERROR:

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
CHROMIUM := /usr/bin/chromium

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_INPUT := 1

.PHONY: help venv install run migrate load-fixtures test test-postgres pytest chromium java npm vnu check-html lint fmt check \
  clean distclean

help:
	@echo "make run            install, migrate, load fixtures, serve on http://$(HOST):$(PORT)/"
	@echo "make test           lint, Django checks, then every test (browser tests included)"
	@echo "make test-postgres  the same tests on a local PostgreSQL 15"
	@echo "make check-html     the Nu HTML Checker and axe on one page of each type (seed + ESMA data); make test runs it"
	@echo "make serve          gunicorn (config/gunicorn.conf.py) after collectstatic"
	@echo "make backup         snapshot + JSON dump into backups/; make restore FILE=... into an empty database"
	@echo "make lint | fmt | migrate | clean | distclean"

# The interpreter: Debian's python3.11 lacks ensurepip until python3.11-venv is installed.
$(PY):
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found (python3.11 or python3)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.version_info[:2] == (3, 11) or print("warning: " + sys.version.split()[0] + " is not Python 3.11")'
	$(PYTHON) -m venv $(VENV) || { \
	  rm -rf $(VENV); \
	  bash .ci/apt-install.sh "python$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"; \
	  $(PYTHON) -m venv $(VENV); }

# Reinstall only when a requirements file changes, so a second run costs nothing.
$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

venv install: $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

# Natural keys make loading again an update, not a duplicate; load_fixtures (not Django's loaddata) gives each
# loaded record its history entry.
load-fixtures: migrate
	$(PY) manage.py load_fixtures jurisdictions seed

run: load-fixtures
	$(PY) manage.py runserver $(HOST):$(PORT)

# Playwright cannot download its own browser here; the e2e tests drive Debian's chromium.
chromium:
	@test -x $(CHROMIUM) || bash .ci/apt-install.sh chromium

# The Nu HTML Checker: the npm package vnu-jar at the version tools/vnu/package-lock.json pins, in
# tools/vnu/node_modules, run by Debian's Java. Its install script (which would download a Java) is skipped.
VNU_DIR := tools/vnu
VNU_JAR := $(VNU_DIR)/node_modules/vnu-jar/build/dist/vnu.jar

java:
	@command -v java >/dev/null || bash .ci/apt-install.sh default-jre-headless

npm:
	@command -v npm >/dev/null || bash .ci/apt-install.sh npm

$(VNU_JAR): $(VNU_DIR)/package.json $(VNU_DIR)/package-lock.json | npm
	cd $(VNU_DIR) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

vnu: $(VNU_JAR) java

# One page of each type through the Nu HTML Checker and axe (tests/e2e/test_html_check_e2e.py).
check-html: $(STAMP) chromium vnu
	$(VENV)/bin/pytest tests/e2e/test_html_check_e2e.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tools/sizes.py

fmt: $(STAMP)
	$(VENV)/bin/ruff check --select I --fix .
	$(VENV)/bin/ruff format .

check: $(STAMP)
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

# Every test, e2e included. pytest exits 5 when it collects nothing; a run that
# tested nothing is a failure. The rules allow no skipped test, so a skip (or xfail,
# which JUnit counts as skipped) fails too.
pytest: $(STAMP) chromium vnu
	@mkdir -p test-results
	$(VENV)/bin/pytest --junitxml=test-results/junit.xml $(PYTEST_ARGS) || { \
	  rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests: failing"; exit $$rc; }
	@$(PY) -c 'import sys, xml.etree.ElementTree as ET; \
	  r = ET.parse("test-results/junit.xml").getroot(); \
	  s = r if r.tag == "testsuite" else r.find("testsuite"); \
	  n, k = int(s.get("tests", 0)), int(s.get("skipped", 0)); \
	  print(f"{n} tests ran, {k} skipped"); \
	  sys.exit("skipped (or xfailed) tests are not allowed" if k else 0 if n else "no tests ran")'

test: lint check pytest

test-postgres: $(STAMP) chromium vnu
	url="$$(bash .ci/postgres.sh)"; \
	DATABASE_URL="$$url" $(MAKE) --no-print-directory pytest

clean:
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache .hypothesis test-results staticfiles $(STAMP) $(VNU_DIR)/node_modules

# Also removes the virtualenv; the SQLite database db.sqlite3 is never touched.
distclean: clean
	rm -rf $(VENV)

# --- Benchmark (bench/README.md): synthetic register, gunicorn beside Datasette, wrk on loopback over distinct URLs ---
# Datasette gets a virtualenv of its own (bench/.venv-datasette): its dependencies never meet the project's pins.
DATASETTE_VENV := bench/.venv-datasette
BENCH_STAMP := $(DATASETTE_VENV)/.requirements-installed
BENCH_ENTITIES ?= 20000
BENCH_SEED ?= 1
BENCH_DURATION ?= 8
BENCH_URLS ?= 200
BENCH_DEEP ?= 600
BENCH_ARGS ?=
BENCH_OPTIONS = --entities $(BENCH_ENTITIES) --seed $(BENCH_SEED) --duration $(BENCH_DURATION) \
  --urls $(BENCH_URLS) --deep $(BENCH_DEEP) $(BENCH_ARGS)

.PHONY: bench bench-postgres wrk

$(BENCH_STAMP): requirements-bench.txt | $(PY)
	$(PY) -m venv $(DATASETTE_VENV)
	$(DATASETTE_VENV)/bin/python -m pip install -r requirements-bench.txt
	touch $@

wrk:
	@command -v wrk >/dev/null || bash .ci/apt-install.sh wrk

# The bench database is its own file; db.sqlite3 is never touched.
bench: $(STAMP) $(BENCH_STAMP) wrk
	DATABASE_URL="sqlite:///$(CURDIR)/bench/bench.sqlite3" $(PY) bench/run.py --backend sqlite $(BENCH_OPTIONS)

# A database of its own (registry_bench), never the test database.
bench-postgres: $(STAMP) $(BENCH_STAMP) wrk
	url="$$(REGISTRY_PG_DB=registry_bench bash .ci/postgres.sh)"; \
	DATABASE_URL="$$url" $(PY) bench/run.py --backend postgres $(BENCH_OPTIONS)

# --- Operations (docs/operations.md): gunicorn, backups ---
.PHONY: serve backup restore

# Production-style serving: gunicorn with config/gunicorn.conf.py (bind from DJANGO_BIND or PORT,
# default 127.0.0.1:8000), static files collected for WhiteNoise first. Set DJANGO_DEBUG=0 and the
# other production variables (README, "Configuration") for a real deployment.
serve: migrate
	$(PY) manage.py collectstatic --noinput -v0
	PORT=$(PORT) $(VENV)/bin/gunicorn -c config/gunicorn.conf.py

# A consistent snapshot (SQLite online backup or pg_dump -Fc) and a natural-key JSON dump in backups/.
backup: $(STAMP)
	$(PY) manage.py backup

# Into an EMPTY database only: make restore FILE=backups/registry-<time>.sqlite3 (or .pgdump, .json).
restore: $(STAMP)
	@test -n "$(FILE)" || { echo "usage: make restore FILE=backups/registry-<time>.json"; exit 2; }
	$(PY) manage.py restore "$(FILE)"

# --- Load test (bench/load/README.md): 50 clients for 60 s with wrk, admin-like writes beside them, loopback only ---
LOADTEST_ARGS ?=

.PHONY: loadtest loadtest-postgres loadtest-replica loadtest-cdn nginx

loadtest: $(STAMP) wrk
	$(PY) bench/load/run.py --backend sqlite $(LOADTEST_ARGS)

# A database of its own (registry_load), never the test database.
loadtest-postgres: $(STAMP) wrk
	$(PY) bench/load/run.py --backend postgres $(LOADTEST_ARGS)

# PostgreSQL with public reads from a streaming replica (.ci/postgres-replica.sh, a second local cluster).
loadtest-replica: $(STAMP) wrk
	$(PY) bench/load/run.py --backend postgres --replica $(LOADTEST_ARGS)

# The same load through nginx caching as a CDN would (docs/scaling.md): its hit ratio and the origin's share.
loadtest-cdn: $(STAMP) wrk nginx
	$(PY) bench/load/run.py --backend sqlite --cdn $(LOADTEST_ARGS)

nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || bash .ci/apt-install.sh nginx-light
