"""Builds the Connexion app from configuration: `create_app()`."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import gc
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import connexion
import orjson
import yaml
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from flask import Response
from sqlalchemy import Connection, Engine
from starlette.exceptions import HTTPException
from starlette.types import Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from db.errors import DomainError
from db.session import make_engine, make_sessionmaker
from settings import Settings
from shell import internals as connexion_private
from shell import observability, problems, validation
from shell.authentication import Passwords, Tokens
from shell.authorization import AuthorizationMiddleware
from shell.document import SpecDocument
from shell.middleware import (
    BodyLimitMiddleware,
    BufferedWSGI,
    ProblemCORSMiddleware,
    ServicesMiddleware,
)
from shell.ratelimit import RateLimits
from shell.ratelimit.middleware import RateLimitHeaders, RateLimitMiddleware
from shell.state import Services, close_session, require_operation, settle_caller

SPEC = Path(__file__).parent / "openapi" / "api.yaml"
JSON = "application/json; charset=utf-8"


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


class TagResolver(Resolver):
    """operationId `list_articles` tagged `Articles` is `handlers.articles.list_articles`.

    This keeps operationIds clean for SDK method names while handlers live one module per tag.
    """

    def __init__(self, paths: dict[str, Any]) -> None:
        super().__init__()
        self.paths = paths

    def resolve_operation_id(self, operation: Any) -> str:
        tag: str = self.paths[operation.path][operation.method]["tags"][0]
        return f"handlers.{tag.lower()}.{operation.operation_id}"

    def resolve_function_from_operation_id(self, operation_id: str) -> Callable[..., Response]:
        return json_reply(super().resolve_function_from_operation_id(operation_id))


def json_reply(handler: Callable[..., Any]) -> Callable[..., Response]:
    """Handlers return a body (or its JSON bytes), or (body, status), or (body, status,
    headers); this makes the JSON response.

    Connexion cannot choose between the success and the problem media types an operation
    declares, so the response is built here, in one place, with its content type.
    """

    @functools.wraps(handler)  # Connexion reads the handler's parameters through this
    def reply(*args: Any, **kwargs: Any) -> Response:
        result = handler(*args, **kwargs)
        body, status, headers = (
            (*result, {})[:3] if isinstance(result, tuple) else (result, 200, {})
        )
        if body is None:
            empty = Response(status=status, headers=headers)
            del empty.headers["Content-Type"]  # nothing to describe
            return empty
        # bytes: already JSON, serialized once to tag it (shell/conditional.py)
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return Response(data, status=status, headers=headers, content_type=JSON)

    return reply


def create_app(settings: Settings | None = None, *, bind: Engine | Connection | None = None) -> Any:
    """The ASGI app. `bind` lets tests run every request inside their own transaction."""
    settings = settings or Settings.from_env()
    observability.configure_logging(settings.log_format, settings.log_level)
    engine = make_engine(settings.database_url, echo=settings.sql_echo, pool_size=settings.threads)
    if settings.metrics:
        observability.count_pool_checkouts(engine)
    if isinstance(bind, Connection):
        # the app's commits become savepoint releases inside the test's transaction
        maker = make_sessionmaker(bind, join_transaction_mode="create_savepoint")
    else:
        maker = make_sessionmaker(bind or engine)
    # the handler threads, shared by Flask and the caller check that runs before validation
    executor = ThreadPoolExecutor(thread_name_prefix="handler", max_workers=settings.threads)
    services = Services(
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
        executor=executor,
        rate_limits=RateLimits(settings),
    )
    spec = load_spec()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        if settings.environment == "production":
            # Everything built so far (the spec, Connexion's validators, SQLAlchemy's tables)
            # lives as long as the process: frozen, the collector stops walking it. A full
            # collection took 90-110 ms with it, every few thousand requests, with every
            # request of the worker waiting: that was the p99 of every read at 16 connections
            # (README, Performance). Not in tests, which build an app per test: frozen
            # objects are never collected.
            gc.freeze()
        yield
        await services.rate_limits.close()

    connexion_private.validate_each_document_once()
    app = connexion.FlaskApp(
        __name__,
        specification_dir=SPEC.parent,
        lifespan=lifespan,
        # no /static/<path> route: everything the app answers is in the spec (OWASP API9)
        server_args={"static_folder": None},
    )
    app.add_api(
        copy.deepcopy(spec),  # Connexion fills in defaults in place
        resolver=TagResolver(spec["paths"]),
        pythonic_params=True,
        validate_responses=settings.validate_responses,
        validator_map={
            "parameter": validation.ParamValidator,
            "body": {
                "application/json": validation.BodyValidator,
                "application/x-www-form-urlencoded": validation.TokenFormValidator,
            },
        },
        swagger_ui_options=SwaggerUIOptions(
            # the document is served as written, $refs and all, by shell/document.py
            serve_spec=False,
            # validatorUrl: no online validator badge, which would send the document's address
            # to validator.swagger.io (Connexion's page leaves it out today; say it anyway)
            swagger_ui_config={
                "persistAuthorization": True,
                "displayOperationId": True,
                "validatorUrl": None,
            },
        ),
    )
    app.add_middleware(SpecDocument, MiddlewarePosition.BEFORE_SWAGGER, spec=spec, text=spec_text())
    # outermost of ours: request ids, security headers, the access log and metrics cover every
    # answer, errors and Swagger UI included; it also answers /healthz, /readyz and /metrics
    app.add_middleware(
        observability.EdgeMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        templates=_path_templates(spec),
        ready_checks=[
            observability.database_check(maker),
            *([observability.redis_check(settings.redis_url)] if settings.redis_url else []),
        ],
        run=functools.partial(_on_thread, executor),
        client_address=_peer,
        access_log_enabled=settings.access_log,
        metrics_enabled=settings.metrics,
    )
    if settings.trusted_proxies:
        # The client address (and scheme) a trusted proxy forwards, for everything further in:
        # uvicorn's own middleware, here rather than in the server, so that TRUSTED_PROXIES is
        # the one setting for it and the tests run it too; `python -m cli run` and gunicorn.conf.py
        # turn the servers' copy off.
        app.add_middleware(
            ProxyHeadersMiddleware,
            MiddlewarePosition.BEFORE_EXCEPTION,
            trusted_hosts=list(settings.trusted_proxies),
        )
    app.add_middleware(
        ProblemCORSMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "X-Requested-With",
            "X-Request-ID",
            "Idempotency-Key",
            "If-Match",
            "If-None-Match",
        ],
        # for browser clients: paging links, the request id to quote in a bug report, which
        # answers are replays, the entity tags to send back, and the rate limits
        expose_headers=[
            "Link",
            "X-Request-ID",
            "Idempotent-Replayed",
            "ETag",
            "RateLimit",
            "RateLimit-Policy",
            "Retry-After",
        ],
        max_age=600,
    )
    if services.rate_limits.enabled:
        # outside the exception handlers, so that error responses carry the RateLimit fields
        app.add_middleware(RateLimitHeaders, MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(ServicesMiddleware, MiddlewarePosition.BEFORE_SECURITY, services=services)
    if services.rate_limits.enabled:
        # after routing, before authentication (shell/ratelimit.py)
        app.add_middleware(
            RateLimitMiddleware,
            MiddlewarePosition.BEFORE_SECURITY,
            limits=services.rate_limits,
            tokens=services.tokens,
        )
    # after authentication, before validation (shell/authorization.py)
    app.add_middleware(AuthorizationMiddleware, MiddlewarePosition.BEFORE_VALIDATION)
    app.add_middleware(
        BodyLimitMiddleware,
        MiddlewarePosition.BEFORE_VALIDATION,
        max_bytes=settings.max_body_bytes,
        timeout=settings.body_timeout_seconds,
    )
    app.add_error_handler(
        405, problems.method_not_allowed(spec["paths"], spec["servers"][0]["url"])
    )
    app.add_error_handler(problems.TooManyRequests, problems.too_many_requests)
    app.add_error_handler(DomainError, problems.domain_error)
    app.add_error_handler(problems.OAuthError, problems.oauth_error)
    app.add_error_handler(connexion.ProblemException, problems.http_error)
    app.add_error_handler(HTTPException, problems.http_error)
    app.add_error_handler(Exception, problems.server_error)

    flask_app = app.app
    connexion_private.bridge_flask(app, BufferedWSGI(flask_app.wsgi_app, executor))
    flask_app.extensions["conduit"] = services
    flask_app.extensions["sessionmaker"] = maker
    flask_app.before_request(require_operation)
    flask_app.before_request(settle_caller)
    flask_app.teardown_appcontext(close_session)
    return app


def _path_templates(spec: dict[str, Any]) -> dict[str, str]:
    """operationId -> "/api/articles/{slug}", for the access log."""
    base = spec["servers"][0]["url"].rstrip("/")
    return {
        op["operationId"]: base + path
        for path, item in spec["paths"].items()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }


async def _on_thread(executor: ThreadPoolExecutor, work: Callable[[], Any]) -> Any:
    return await asyncio.get_running_loop().run_in_executor(executor, work)


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None
