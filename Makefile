# The two commands of README.md: `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MANAGE := $(PY) manage.py
DEMO_PASSWORD = $$(grep '^DEMO_ADMIN_PASSWORD=' .env | cut -d= -f2-)
# The port `make run` serves on (`make run PORT=8001` when 8000 is taken).
PORT ?= 8000

.PHONY: help run test install install-dev env migrate demo screenshots lint bench load production-check scale-check scale-measure
.DEFAULT_GOAL := help

## List the targets and what each one does (this text).
help:
	@awk '/^## /{text = text (text ? " " : "") substr($$0, 4); next} \
		/^[a-z][a-z-]*:([^=]|$$)/{split($$0, name, ":"); sub(/[.;] .*/, ".", text); \
		printf "  make %-12s %s\n", name[1], text} {text = ""}' $(MAKEFILE_LIST)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

## Runtime dependencies only (what `make run` needs).
$(VENV)/.installed: $(VENV)/bin/python requirements.txt
	$(PIP) install --quiet -r requirements.txt
	touch $@

## Runtime plus test and tooling dependencies.
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

## Create .venv with the runtime dependencies (requirements.txt).
install: $(VENV)/.installed

## Create .venv with the runtime, test and tooling dependencies (requirements-dev.txt).
install-dev: $(VENV)/.installed-dev

.env:
	$(PYTHON) scripts/prepare_env.py .env

## Write .env with random development keys and the demo password (an existing .env is kept).
env: .env

## Apply the database migrations.
migrate: install env
	$(MANAGE) migrate --noinput

## The demo admin, clerk (names masked) and API token, and demo data the first time.
demo: migrate
	$(MANAGE) seed_demo --if-empty --users 200 --transactions 20000 --seed 1
	@$(MANAGE) ensure_demo_access --password "$(DEMO_PASSWORD)" --base-url http://127.0.0.1:$(PORT)

## Serve the embedded default on http://127.0.0.1:8000 (SQLite, in-process cache and tasks); `make run PORT=8001`
## for another port. One short log line per request: LOG_FORMAT=plain unless set (production logs stay JSON).
run: demo
	LOG_FORMAT=$${LOG_FORMAT:-plain} $(MANAGE) runserver 127.0.0.1:$(PORT)

## The whole test suite (embedded unless DATABASE_URL / REDIS_URL / CELERY_BROKER_URL are set).
test: install-dev migrate
	$(PY) -m pytest

## What docker-compose.yml deploys, run as an operator would (about 5 minutes). Separate from `make test`:
## a fresh venv of requirements.txt alone, gunicorn, worker and beat with compose's command lines, on a
## Redis broker and on RabbitMQ of its own (killed and restarted), judged over HTTP. Needs PostgreSQL
## on 127.0.0.1, redis-server and rabbitmq-server; see ci/production/run.py.
production-check: install-dev
	$(PY) ci/production/run.py

## The scale-out, proven on real engines (about 4 minutes). Separate from `make test`: a PostgreSQL primary and a synchronous hot standby of its own (initdb, pg_basebackup), PgBouncer
## in transaction mode, two gunicorn instances and two workers; replica reads, read-after-write, the standby
## stopped, the API suite and `make load` through PgBouncer. Needs PostgreSQL's server binaries, redis-server and
## pgbouncer (installed when missing); see ci/scale/run.py.
scale-check: install-dev
	@command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || (echo "Installing pgbouncer (Debian package)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer)
	$(PY) ci/scale/run.py

## PgBouncer against direct connections (about 3 minutes, not in CI). Creates and reads measured with wrk: figures
## for docs/performance.md "Scaling"; see ci/scale/measure.py.
scale-measure: install-dev
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	@command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer)
	$(PY) ci/scale/measure.py

## Retake the back-office screenshots in docs/screenshots/ (a real browser: Debian's Chromium).
screenshots: install-dev
	SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest -q tests/admin/test_screens.py

## Ruff: lint and format check.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## Benchmark (about 6 minutes): the service against an independent floor (bench/floor/, a stock DRF view) in
## one interleaved run, with the shipped gunicorn configuration and with 2 sync workers; see docs/performance.md.
## Needs PostgreSQL and Redis on 127.0.0.1; installs wrk (and redis-server, for a broker of its own) when missing.
bench: install-dev
	@command -v wrk >/dev/null || (echo "Installing wrk (Debian package)"; apt-get update -qq && apt-get install -y -qq wrk)
	@command -v redis-server >/dev/null || (echo "Installing redis-server (Debian package)"; apt-get update -qq && apt-get install -y -qq redis-server)
	$(PY) bench/run.py

## Load and soak test (bounded, 127.0.0.1): 32 clients x 60 s against gunicorn with a real Celery
## worker, then zero-5xx / row-count / analytics / alert checks. Needs PostgreSQL and Redis; LOAD_WEB_INSTANCES,
## LOAD_WORKERS, LOAD_POOLER and LOAD_REPLICA_URLS run it scaled out; see docs/performance.md ("Load test").
load: install-dev
	$(PY) loadtest/run.py
