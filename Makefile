# Everything a user runs goes through here; each target installs what it needs itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8080
export PORT

.PHONY: run serve test lint types migrate seed admin bench clean install install-dev

# what the service needs to run, and on top of it what the tests and checks need
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

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
	command -v wrk >/dev/null || apt-get install -y wrk || { echo "install wrk first"; exit 2; }
	$(PY) -m bench.run $(BENCH_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: install-dev
	$(VENV)/bin/mypy

# the browser the Swagger UI checks drive: Debian's Chromium, never a downloaded one
/usr/bin/chromium:
	apt-get install -y chromium || { echo "install Debian's chromium package first"; exit 2; }

## make test: lint, types and the whole suite on SQLite and PostgreSQL
test: lint types /usr/bin/chromium
	$(PY) -m pytest -n 2 --dist loadfile --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache conduit.db .secret_key
