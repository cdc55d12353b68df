"""Routing: which operation of openapi/api.yaml a request is for, and what each operation asks
of the pipeline, decided once at start-up from the document (`Operation`).

Connexion reads the document and resolves each operationId to its handler (`TagResolver`:
`list_articles` tagged `Articles` is `handlers.articles.list_articles`); Starlette's routes
match the paths, as in Connexion's own router: a path template's `{id}` of type integer only
matches digits, a GET route answers HEAD too, a path that matches with another method is a
405 naming the ones it has, and a path that matches only with or without its trailing slash is
a 307 to that one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import starlette.convertors
from connexion.frameworks.starlette import FloatConverter, IntegerConverter, starlettify_path
from connexion.operations import AbstractOperation
from connexion.resolver import Resolver
from connexion.spec import Specification
from starlette.datastructures import URL
from starlette.routing import Match, Route
from starlette.types import Scope

from db.errors import NotFound
from shell import authentication, authorization, ratelimit, validation
from shell.problems import MethodNotAllowed, Redirect

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# the path templates' typed parameters match as they do in Connexion's router
starlette.convertors.register_url_convertor("int", IntegerConverter())
starlette.convertors.register_url_convertor("float", FloatConverter())


class TagResolver(Resolver):
    """operationId `list_articles` tagged `Articles` is `handlers.articles.list_articles`.

    This keeps operationIds clean for SDK method names while handlers live one module per tag.
    """

    def __init__(self, paths: Mapping[str, Any]) -> None:
        super().__init__()
        self.paths = paths

    def resolve_operation_id(self, operation: Any) -> str:
        tag: str = self.paths[operation.path][operation.method]["tags"][0]
        return f"handlers.{tag.lower()}.{operation.operation_id}"


@dataclass(frozen=True, eq=False)
class Operation:
    """One operation of the document, and everything the pipeline does for it."""

    id: str  # the operationId
    method: str  # upper case
    template: str  # "/api/articles/{slug}", for the access log
    spec: AbstractOperation  # Connexion's: parameters, bodies, responses
    handler: Callable[..., Any]
    arguments: tuple[str, ...]  # the handler's parameter names
    writes: bool
    rate_limit: ratelimit.Policy | None
    security: authentication.Requirement
    scopes: authorization.Policy
    validator: validation.RequestValidator


def _operation(
    spec: AbstractOperation,
    declared: Mapping[str, Any],
    *,
    base: str,
    limits: ratelimit.RateLimits,
    default_limit: str | None,
) -> Operation:
    handler = spec.function
    return Operation(
        id=declared["operationId"],
        method=spec.method.upper(),
        template=base + spec.path,
        spec=spec,
        handler=handler,
        arguments=tuple(inspect.signature(handler).parameters),
        writes=spec.method.upper() not in SAFE_METHODS,
        rate_limit=limits.policy_of(f"{spec.method.upper()} {spec.path}", declared, default_limit),
        security=authentication.Requirement.of(spec.security),
        scopes=authorization.Policy(
            required=frozenset(declared.get("x-required-scopes", ())),
            moderator=frozenset(declared.get("x-moderator-scopes", ())),
        ),
        validator=validation.RequestValidator(spec),
    )


class Routes:
    """The document's operations as routes, matched in the document's order."""

    def __init__(
        self, specification: Specification, resolver: Resolver, limits: ratelimit.RateLimits
    ) -> None:
        self.base = specification.base_path.rstrip("/")
        default_limit = specification.raw.get(ratelimit.EXTENSION)
        self.routes: list[tuple[Route, Operation]] = []
        for path, item in specification["paths"].items():
            for method, declared in item.items():
                if method.upper() not in ROUTED_METHODS:
                    continue
                spec = specification.operation_cls.from_spec(
                    specification, path=path, method=method, resolver=resolver
                )
                operation = _operation(
                    spec, declared, base=self.base, limits=limits, default_limit=default_limit
                )
                template = starlettify_path(self.base + path, spec.get_path_parameter_types())
                route = Route(template, endpoint=_never, methods=[method.upper()])
                self.routes.append((route, operation))
        self.operations = {operation.id: operation for _, operation in self.routes}

    def match(self, scope: Scope) -> tuple[Operation, dict[str, Any]]:
        """The operation and its path parameters; 404, 405 or a redirect when there is none."""
        partial: str | None = None  # the first path that matches with another method
        for route, operation in self.routes:
            found, child = route.matches(scope)
            if found is Match.FULL:
                return operation, child["path_params"]
            if found is Match.PARTIAL and partial is None:
                partial = route.path
        if partial is not None:
            raise MethodNotAllowed([o.method for r, o in self.routes if r.path == partial])
        self._redirect_slash(scope)
        raise NotFound.on("resource", "not found", "No operation matches this path.")

    def _redirect_slash(self, scope: Scope) -> None:
        """As Starlette's router: the same path with (or without) its trailing slash, if that
        one is routed; the base path itself, like a mount's, to the base path and a slash."""
        path: str = scope["path"]
        if path == "/":
            return
        toggled = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
        if path == self.base or any(
            route.matches(toggled)[0] is not Match.NONE for route, _ in self.routes
        ):
            raise Redirect(str(URL(scope=toggled)))


ROUTED_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"})


async def _never(*_args: Any) -> None:  # pragma: no cover - routes are matched, never called
    raise AssertionError("a route of the pipeline is matched, never called")
