# syntax=docker/dockerfile:1
# The production image: `make serve` in a container. docker-compose.yml runs two of these
# behind nginx (deploy/nginx/conduit.conf); tests/test_deploy_files.py checks that this file,
# the compose file, the nginx configuration and the code agree.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the service's dependencies as uv.lock pins them, into a virtualenv the final
# stage copies as it is
FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.10
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv \
    && python -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /build
COPY pyproject.toml uv.lock ./
# Only the dependencies, not the project itself: the app runs from its source tree (/app), whose
# openapi/ and gunicorn.conf.py a wheel would not carry. This layer is rebuilt only when the lock
# changes. `uv export --frozen` writes the lock's pins with their hashes (and refuses nothing:
# make test has checked the lock against pyproject.toml), pip installs exactly those, hashes
# checked; every one ships manylinux wheels, so nothing is compiled and no compiler is wanted.
RUN UV_SYSTEM_CERTS=1 /opt/uv/bin/uv export --frozen --no-emit-project --format requirements-txt > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: \
        -r requirements.txt \
    && /opt/venv/bin/pip uninstall --yes pip

# --- final: the interpreter, the virtualenv and the source; no compiler, no pip cache
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CONDUIT_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
RUN groupadd --system --gid 10001 conduit \
    && useradd --system --uid 10001 --gid conduit --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin conduit
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# owned by root and read-only to the service: it writes only to /tmp (the metrics files)
COPY app.py cli.py settings.py gunicorn.conf.py ./
COPY handlers/ handlers/
COPY shell/ shell/
COPY db/ db/
COPY openapi/ openapi/
RUN python -m compileall -q /app
USER conduit:conduit
EXPOSE 8080
# liveness only (/readyz also asks PostgreSQL and Redis, and a dead database is no reason to
# restart the app); the slim image has no curl, so the interpreter asks
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080') + '/healthz', timeout=2)"]
# what `make serve` does: migrate (every replica does; they take turns, db/migrations/env.py), then
# gunicorn, exec'd to be PID 1 and get the signals itself (SIGTERM: a graceful stop)
CMD ["/bin/sh", "-c", "python -m cli migrate && exec gunicorn 'app:create_app()' --config gunicorn.conf.py"]
