# Alliance: `make run` serves the demo, `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint fmt bench migrations-check ci serve loadtest worker beat

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)
	$(MANAGE) compile_translations

# The demo runs its jobs in the background as production does: a worker with beat beside
# the dev server, on a queue kept in files under var/celery/ (no Redis needed), stopped
# with it. Its log is var/worker.log.
RUN_ENV := CELERY_BROKER_URL=filesystem://
run: install
	mkdir -p var
	$(MANAGE) migrate --noinput
	$(MANAGE) load_instruments
	$(MANAGE) seed_demo
	$(RUN_ENV) $(BIN)/celery -A alliance worker --beat --pool solo --loglevel INFO \
		--without-mingle --without-gossip --schedule var/celerybeat-schedule \
		> var/worker.log 2>&1 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(RUN_ENV) $(MANAGE) runserver 127.0.0.1:8000

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations-check: install
	$(MANAGE) makemigrations --check --dry-run

# A synthetic clinic in the benchmark's own database: S (50 clients) and M (1,000) by
# default; `make bench SCALE="S M L"` adds L (20,000 clients, ~1.2 million ratings).
# KEEP=1 (or yes, true) keeps each built clinic and starts the next run from a copy of it
# (--keep).
SCALE ?= S M
bench: install
	$(MANAGE) bench $(addprefix --scale ,$(SCALE)) $(if $(filter 1 yes true,$(KEEP)),--keep) --json bench/results.json

ci:
	bash .ci/run

# A production-like server on the configured database (DATABASE_URL; PostgreSQL for more
# than one worker): gunicorn with 2 x cores + 1 workers (WEB_CONCURRENCY), WhiteNoise serving
# the collected static files, DJANGO_ENV=production. On plain HTTP on loopback: no redirect
# to HTTPS. No proxy is trusted: X-Forwarded-For is ignored unless you put a proxy in front
# and set ALLIANCE_TRUSTED_PROXIES. The workers share the database cache (its table made
# here) unless CACHE_URL or REDIS_URL says otherwise. A random secret key per start unless
# DJANGO_SECRET_KEY is set. Migrations (and the cache table) are made as MIGRATE_DATABASE_URL
# when set (the tables' owner; DATABASE_URL the app's role: docs/deployment.md).
SERVE_ENV = DJANGO_ENV=production \
	DJANGO_SECURE_SSL_REDIRECT=$${DJANGO_SECURE_SSL_REDIRECT:-false} \
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')}

serve: install
	$(SERVE_ENV) env $${MIGRATE_DATABASE_URL:+DATABASE_URL=$$MIGRATE_DATABASE_URL} $(MANAGE) migrate --noinput
	$(SERVE_ENV) env $${MIGRATE_DATABASE_URL:+DATABASE_URL=$$MIGRATE_DATABASE_URL} $(MANAGE) createcachetable
	$(SERVE_ENV) $(MANAGE) collectstatic --noinput --verbosity 0
	$(SERVE_ENV) $(BIN)/gunicorn --config gunicorn.conf.py alliance.wsgi:application

# The job queue's processes beside `make serve` (alliance/celery.py): a worker, and beat
# for the periodic jobs (one beat per installation). They need CELERY_BROKER_URL (Redis,
# e.g. redis://127.0.0.1:6379/2) and the same database and settings as the app servers.
worker: install
	@test -n "$$CELERY_BROKER_URL" || { echo "make worker needs CELERY_BROKER_URL (Redis: docs/deployment.md)"; exit 2; }
	@test -n "$$DJANGO_SECRET_KEY" || { echo "make worker needs the app servers' DJANGO_SECRET_KEY"; exit 2; }
	$(SERVE_ENV) $(BIN)/celery -A alliance worker --loglevel INFO --concurrency $${CELERY_CONCURRENCY:-2}

beat: install
	@test -n "$$CELERY_BROKER_URL" || { echo "make beat needs CELERY_BROKER_URL (Redis: docs/deployment.md)"; exit 2; }
	$(SERVE_ENV) $(BIN)/celery -A alliance beat --loglevel INFO --schedule var/celerybeat-schedule

# A bounded load test of `make serve` on loopback with the demo clinic: fresh form links,
# then LOADTEST_REQUESTS requests by LOADTEST_USERS simultaneous users, at most 180 s. Each
# simulated person connects from a loopback address of their own (127.x.y.z), so the
# per-address limits apply as in production. LOADTEST_CLINIC="Bench clinic M" plays a copy
# of a kept benchmark clinic instead (docs/deployment.md).
LOADTEST_REQUESTS ?= 2000
LOADTEST_USERS ?= 8
LOADTEST_CLINIC ?=
loadtest: install
	$(if $(LOADTEST_CLINIC),,$(MANAGE) load_instruments && $(MANAGE) seed_demo)
	$(MANAGE) loadtest_prepare $(if $(LOADTEST_CLINIC),--clinic "$(LOADTEST_CLINIC)") \
		--links $$(( $(LOADTEST_REQUESTS) / 4 + 1 )) --out var/loadtest/plan.json
	$(BIN)/python scripts/loadtest.py --plan var/loadtest/plan.json \
		--requests $(LOADTEST_REQUESTS) --concurrency $(LOADTEST_USERS) --time-limit 180 \
		--json var/loadtest/results.json
