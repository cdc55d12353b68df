"""Builds the Connexion app from configuration: `create_app()`."""

from __future__ import annotations

import functools
from collections.abc import Callable
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

from api import errors
from api.auth import Passwords, Tokens
from api.context import Services, authenticate, require_operation
from api.middleware import (
    BodyLimitMiddleware,
    BufferedWSGI,
    ProblemCORSMiddleware,
    ServicesMiddleware,
)
from db.errors import DomainError
from db.session import close_session, make_engine, make_sessionmaker
from settings import Settings

SPEC = Path(__file__).parent / "openapi" / "api.yaml"
JSON = "application/json; charset=utf-8"


class TagResolver(Resolver):
    """operationId `list_articles` tagged `Articles` is `api.articles.list_articles`.

    This keeps operationIds clean for SDK method names while handlers live one module per tag.
    """

    def resolve_operation_id(self, operation: Any) -> str:
        # Connexion keeps the raw operation object private; the tag is only there
        tag: str = operation._operation["tags"][0]
        return f"api.{tag.lower()}.{operation.operation_id}"

    def resolve_function_from_operation_id(self, operation_id: str) -> Callable[..., Response]:
        return json_reply(super().resolve_function_from_operation_id(operation_id))


def json_reply(handler: Callable[..., Any]) -> Callable[..., Response]:
    """Handlers return a body, or (body, status); this makes the JSON response.

    Connexion cannot choose between the success and the problem media types an operation
    declares, so the response is built here, in one place, with its content type. The caller
    is settled here too, because this runs for every operation and only for them.
    """

    @functools.wraps(handler)  # Connexion reads the handler's parameters through this
    def reply(*args: Any, **kwargs: Any) -> Response:
        authenticate()
        result = handler(*args, **kwargs)
        body, status = result if isinstance(result, tuple) else (result, 200)
        if body is None:
            empty = Response(status=status)
            del empty.headers["Content-Type"]  # nothing to describe
            return empty
        return Response(orjson.dumps(body), status=status, content_type=JSON)

    return reply


def create_app(settings: Settings | None = None, *, bind: Engine | Connection | None = None) -> Any:
    """The ASGI app. `bind` lets tests run every request inside their own transaction."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url, echo=settings.sql_echo, pool_size=settings.threads)
    if isinstance(bind, Connection):
        # the app's commits become savepoint releases inside the test's transaction
        maker = make_sessionmaker(bind, join_transaction_mode="create_savepoint")
    else:
        maker = make_sessionmaker(bind or engine)
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
        passwords=Passwords(settings.argon2_profile),
    )

    app = connexion.FlaskApp(__name__, specification_dir=SPEC.parent)
    app.add_api(
        SPEC.name,
        resolver=TagResolver(),
        pythonic_params=True,
        validate_responses=settings.validate_responses,
        validator_map={
            "parameter": errors.ParamValidator,
            "body": {"application/json": errors.BodyValidator},
        },
        swagger_ui_options=SwaggerUIOptions(
            swagger_ui_config={"persistAuthorization": True, "displayOperationId": True}
        ),
    )
    app.add_middleware(
        ProblemCORSMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Requested-With"],
        max_age=600,
    )
    app.add_middleware(ServicesMiddleware, MiddlewarePosition.BEFORE_SECURITY, services=services)
    app.add_middleware(
        BodyLimitMiddleware, MiddlewarePosition.BEFORE_VALIDATION, max_bytes=settings.max_body_bytes
    )
    spec = yaml.safe_load(SPEC.read_text())
    app.add_error_handler(405, errors.method_not_allowed(spec["paths"], spec["servers"][0]["url"]))
    app.add_error_handler(DomainError, errors.domain_error)
    app.add_error_handler(connexion.ProblemException, errors.http_error)
    app.add_error_handler(HTTPException, errors.http_error)
    app.add_error_handler(Exception, errors.server_error)

    flask_app = app.app
    # Connexion has no option for the WSGI bridge; it is this one attribute (see BufferedWSGI)
    app._middleware_app.asgi_app = BufferedWSGI(flask_app.wsgi_app, workers=settings.threads)
    flask_app.extensions["conduit"] = services
    flask_app.extensions["sessionmaker"] = maker
    flask_app.before_request(require_operation)
    flask_app.teardown_appcontext(close_session)
    return app
