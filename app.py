"""Builds the service from configuration: `create_app()`, the ASGI app (shell/pipeline.py) of
openapi/api.yaml's operations and their handlers."""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import flask
import yaml
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from connexion.spec import Specification
from sqlalchemy import Connection, Engine
from starlette.types import ASGIApp

from db.session import make_engine, make_sessionmaker
from settings import Settings
from shell import health, internals, observability
from shell.authentication import Passwords, Tokens
from shell.dispatch import Dispatch, HandlerFlask
from shell.document import SpecDocument
from shell.pipeline import Pipeline
from shell.ratelimit import RateLimits
from shell.routing import Routes, TagResolver
from shell.state import Services
from shell.threads import HandlerThreads
from shell.validation import ResponseCheck

SPEC = Path(__file__).parent / "openapi" / "api.yaml"


@functools.cache
def spec_text() -> str:
    """openapi/api.yaml as written, read once per process."""
    return SPEC.read_text()


@functools.cache
def load_spec() -> dict[str, Any]:
    """openapi/api.yaml, parsed once per process (libyaml's parser where PyYAML has it): each
    app built (a worker, every test) would otherwise spend a fifth of a second parsing it."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec: dict[str, Any] = yaml.load(spec_text(), Loader=loader)  # noqa: S506  # a safe loader, in C
    return spec


def create_app(
    settings: Settings | None = None, *, bind: Engine | Connection | None = None
) -> Pipeline:
    """The ASGI app. `bind` lets tests run every request inside their own transaction."""
    settings = settings or Settings.from_env()
    observability.configure_logging(settings.log_format, settings.log_level)
    return build_pipeline(build_services(settings, bind), load_spec(), spec_text())


def build_pipeline(
    services: Services, spec: dict[str, Any], text: str, resolver: Resolver | None = None
) -> Pipeline:
    """The pipeline of a document's operations (`text` is the document as written), their
    handlers found by `resolver` (by tag and operationId, `TagResolver`, unless told)."""
    internals.validate_each_document_once()
    specification = Specification.from_dict(copy.deepcopy(spec))  # Connexion fills in defaults
    resolver = resolver or TagResolver(spec["paths"])
    return Pipeline(
        services=services,
        routes=Routes(specification, resolver, services.rate_limits),
        dispatch=Dispatch(build_flask()),
        document=SpecDocument(spec=spec, text=text),
        health=build_health(services),
        swagger_ui=swagger_ui(specification),
        ui_prefix=specification.base_path.rstrip("/") + "/ui",
        lifespan=functools.partial(lifespan, services),
        response_check=ResponseCheck() if services.settings.validate_responses else None,
    )


def build_services(settings: Settings, bind: Engine | Connection | None) -> Services:
    """The database, the credentials, the handler threads and the rate limits."""
    engine = make_engine(settings.database_url, echo=settings.sql_echo, pool_size=settings.threads)
    if settings.metrics:
        observability.count_pool_checkouts(engine)
    if isinstance(bind, Connection):
        # the app's commits become savepoint releases inside the test's transaction
        maker = make_sessionmaker(bind, join_transaction_mode="create_savepoint")
    else:
        maker = make_sessionmaker(bind or engine)
    return Services(
        settings=settings,
        engine=engine,
        sessionmaker=maker,
        tokens=Tokens(
            secret=settings.secret_key,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.jwt_ttl_seconds,
        ),
        passwords=Passwords(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        ),
        threads=HandlerThreads(settings.threads),
        rate_limits=RateLimits(settings),
    )


def build_flask() -> flask.Flask:
    """The Flask app the handlers run in: its request context, `g`, its before_request hooks.
    No /static/<path> route: everything the service answers is in the spec (OWASP API9)."""
    return HandlerFlask(__name__, static_folder=None)


def build_health(services: Services) -> health.Health:
    settings = services.settings
    checks = [health.database_check(services.sessionmaker)]
    if settings.redis_url:
        checks.append(health.redis_check(settings.redis_url))
    return health.Health(checks, services.threads.run)


def swagger_ui(specification: Specification) -> Callable[[ASGIApp], ASGIApp]:
    """Connexion's Swagger UI at /api/ui/, reading the document as served (shell/document.py)."""

    def make(rest: ASGIApp) -> ASGIApp:
        ui = SwaggerUIMiddleware(rest)
        options = SwaggerUIOptions(
            serve_spec=False,  # the document is served as written, $refs and all
            # validatorUrl: no online validator badge, which would send the document's address
            # to validator.swagger.io (Connexion's page leaves it out today; say it anyway)
            swagger_ui_config={
                "persistAuthorization": True,
                "displayOperationId": True,
                "validatorUrl": None,
            },
        )
        ui.add_api(specification, swagger_ui_options=options)
        return cast(ASGIApp, ui)

    return make


@contextlib.asynccontextmanager
async def lifespan(services: Services) -> AsyncIterator[None]:
    if services.settings.environment == "production":
        # Everything built so far (the spec, the validators, SQLAlchemy's tables) lives as
        # long as the process: frozen, the collector stops walking it. A full collection took
        # 90-110 ms with it, every few thousand requests, with every request of the worker
        # waiting: that was the p99 of every read at 16 connections. Not in tests, which build
        # an app per test: frozen objects are never collected.
        gc.freeze()
    yield
    await services.rate_limits.close()
    services.threads.shutdown()
