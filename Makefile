# Everything a user runs goes through here; each target installs what it needs itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8080
export PORT

.PHONY: run serve test lint types imports migrate seed admin bench clean install install-dev \
	lock docs docs-serve docs-check spec-lint spec-release sdk topology-test fuzz bench-depth

# Installs come from uv.lock, which pins every dependency with its hashes (ADR 11). uv itself,
# one pinned version, goes into a virtualenv of its own: a fresh machine has only Python and make.
UV_VERSION := 0.13.10
UV_VENV ?= .venv-uv
UV := $(UV_VENV)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
# the platform's certificate store, as pip uses it (a proxy's CA there is trusted alike)
export UV_SYSTEM_CERTS ?= 1
$(UV):
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# what the service needs to run, and on top of it what the tests and checks need; --locked
# refuses a lock that no longer matches pyproject.toml (run `make lock`)
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --quiet --locked --inexact --python $(PYTHON)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(UV) sync --quiet --locked --extra dev --python $(PYTHON)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make lock: refresh uv.lock after changing the dependencies in pyproject.toml
lock: $(UV)
	$(UV) lock --python $(PYTHON)

# the Node tools, pinned in package-lock.json: Spectral (spec lint) and the TypeScript SDK's
NODE_TOOLS := node_modules/.installed
$(NODE_TOOLS): package.json package-lock.json
	command -v npm >/dev/null || { apt-get update -qq && apt-get install -y nodejs npm; } || { echo "install Node.js and npm first"; exit 2; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## make run: migrate and serve on SQLite (or $DATABASE_URL) with Swagger UI, for development
run: install
	CONDUIT_ENV=$${CONDUIT_ENV:-development} $(PY) -m cli run

## make serve: the production server (gunicorn + uvicorn workers); needs SECRET_KEY
serve: install
	$(PY) -m cli migrate
	CONDUIT_ENV=$${CONDUIT_ENV:-production} $(VENV)/bin/gunicorn 'app:create_app()' --config gunicorn.conf.py

migrate: install
	$(PY) -m cli migrate

## make seed: fill the database with a demo dataset (SEED_ARGS="--users 50 --articles 1000")
seed: install
	$(PY) -m cli migrate
	$(PY) -m cli seed $(SEED_ARGS)

## make admin LOGIN=jake [ROLE=moderator]: give an existing user a role (admin by default)
admin: install
	@test -n "$(LOGIN)" || { echo "usage: make admin LOGIN=EMAIL_OR_USERNAME [ROLE=admin|moderator|user]"; exit 2; }
	CONDUIT_ENV=$${CONDUIT_ENV:-development} $(PY) -m cli admin "$(LOGIN)" --role "$(or $(ROLE),admin)"

## make bench: seed, serve as deployed, load with wrk, write bench/results/ (BENCH_ARGS="--scale 100")
bench: install-dev
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y wrk; } || { echo "install wrk first"; exit 2; }
	$(PY) -m bench.run $(BENCH_ARGS)
	$(PY) -m bench.depth $(DEPTH_ARGS)

## make bench-depth: cursor pages at depth 500,000 of 1,000,000 and search over 100,000 articles
bench-depth: install-dev
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y wrk; } || { echo "install wrk first"; exit 2; }
	$(PY) -m bench.depth $(DEPTH_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: install-dev
	$(VENV)/bin/mypy

## make imports: the import rules of pyproject.toml (import-linter): the folders are the layers
imports: install-dev
	$(VENV)/bin/lint-imports --no-cache

# the browser the Swagger UI checks drive: Debian's Chromium, never a downloaded one
/usr/bin/chromium:
	{ apt-get update -qq && apt-get install -y chromium; } || { echo "install Debian's chromium package first"; exit 2; }

# the Redis the rate-limit and fault tests start or use: Debian's redis-server
/usr/bin/redis-server:
	{ apt-get update -qq && apt-get install -y redis-server; } || { echo "install Debian's redis-server package first"; exit 2; }

# the proxy in front of the app processes in the topology test: Debian's nginx
/usr/sbin/nginx:
	{ apt-get update -qq && apt-get install -y nginx; } || { echo "install Debian's nginx package first"; exit 2; }

## make spec-lint: Spectral with the OWASP API ruleset, and openapi-spec-validator
spec-lint: install-dev $(NODE_TOOLS)
	$(PY) -m pytest tests/test_spec_lint.py -p no:cacheprovider $(PYTEST_ARGS)

## make spec-release: snapshot openapi/api.yaml as released (raise info.version first)
spec-release: install-dev
	$(PY) -m openapi.release

## make sdk: generate the Python and TypeScript clients from openapi/api.yaml into sdk/build/
sdk: install-dev $(NODE_TOOLS)
	$(PY) -m sdk.generate

## make topology-test: nginx in front of two `make serve` processes on PostgreSQL and Redis
topology-test: install-dev /usr/sbin/nginx
	$(PY) -m pytest tests/test_topology.py -p no:cacheprovider $(PYTEST_ARGS)

## make fuzz: schemathesis against a live `make serve` on PostgreSQL for FUZZ_MINUTES (10);
## every check, stateless and stateful, as a user and an admin; worker memory watched
FUZZ_MINUTES ?= 10
fuzz: install-dev
	$(PY) -m tests.fuzz_live --minutes $(FUZZ_MINUTES)

## make docs: the documentation site (mkdocs.yml) into site/; make docs-serve: at :8000, live
docs: install-dev
	$(VENV)/bin/mkdocs build --strict

docs-serve: install-dev
	$(VENV)/bin/mkdocs serve

# what make test builds: the site, strictly (a broken link or a page left out fails), elsewhere
docs-check: install-dev
	site=$$(mktemp -d) && $(VENV)/bin/mkdocs build --strict --quiet --site-dir "$$site"; \
	  built=$$?; rm -rf "$$site"; exit $$built

## make test: lint, types, import rules, the docs and the whole suite on SQLite and PostgreSQL
test: lint types imports docs-check /usr/bin/chromium /usr/sbin/nginx /usr/bin/redis-server $(NODE_TOOLS)
	$(PY) -m pytest -n 2 --dist loadfile --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(UV_VENV) site node_modules sdk/build .pytest_cache .mypy_cache .ruff_cache conduit.db .secret_key
