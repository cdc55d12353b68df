"""Every error leaves as RFC 9457 problem details carrying the RealWorld `errors` member.

Connexion's own request validation is replaced here by validators that report each bad
field with a short message, instead of one JSON-Schema dump.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncGenerator, Callable, Iterable
from http import HTTPStatus
from typing import Any, cast

import jsonschema_rs
import orjson
from connexion.exceptions import ProblemException
from connexion.json_schema import Draft4RequestValidator
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from jsonschema import FormatChecker, ValidationError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope

from db.errors import BadRequest, DomainError, FieldErrors, Invalid

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# the field an error without one is reported under, by status
_DEFAULT_FIELD = {
    401: "token",
    403: "permission",
    404: "resource",
    405: "method",
    413: "body",
    415: "body",
}
_WWW_AUTHENTICATE = 'Bearer realm="conduit", Token realm="conduit"'
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def problem(status: int, errors: FieldErrors, detail: str) -> ConnexionResponse:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "errors": errors,
    }
    headers = {"WWW-Authenticate": _WWW_AUTHENTICATE} if status == 401 else {}
    return ConnexionResponse(
        status_code=status,
        mimetype=PROBLEM_JSON,
        content_type=PROBLEM_JSON,
        body=orjson.dumps(body),
        headers=headers,
    )


def domain_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, DomainError)
    return problem(exc.status_code, exc.errors, exc.detail)


def http_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Connexion's problems (401 without a token, 415, ...) and routing's 404/405."""
    if isinstance(exc, ProblemException):
        status, detail = exc.status, str(exc.detail or exc.title)
    elif isinstance(exc, HTTPException):
        status, detail = exc.status_code, str(exc.detail)
    else:
        return server_error(_request, exc)
    message = _short(status, detail)
    return problem(status, {_DEFAULT_FIELD.get(status, "request"): [message]}, detail)


def method_not_allowed(
    paths: dict[str, Any], base_path: str
) -> Callable[[ConnexionRequest, Exception], ConnexionResponse]:
    """405 with an `Allow` header listing what the spec declares for the path (RFC 9110)."""
    routes = [
        (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(base_path + path)) + "$"),
         ", ".join(m.upper() for m in item if m in _METHODS))
        for path, item in paths.items()
    ]  # fmt: skip

    def handler(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        response = http_error(request, exc)
        allowed = next((a for pattern, a in routes if pattern.match(request.url.path)), None)
        if allowed:
            response.headers["Allow"] = allowed
        return response

    return handler


def server_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.error("unhandled error", exc_info=exc)
    return problem(500, {"server": ["internal error"]}, "The server failed; try again later.")


def _short(status: int, detail: str) -> str:
    if status == 401 and "No authorization" in detail:
        return "is missing"
    if status == 415:
        return "must be application/json"
    return HTTPStatus(status).phrase.lower()


# --- validators ------------------------------------------------------------------------------

# jsonschema's own "email" check only looks for an "@"; this one follows RFC 5321/5322
_EMAIL = jsonschema_rs.Draft202012Validator({"format": "email"}, validate_formats=True)
FORMATS = FormatChecker()
FORMATS.checks("email")(lambda value: not isinstance(value, str) or _EMAIL.is_valid(value))

_ARTICLE = {"object": "an object", "array": "an array", "integer": "an integer"}


def message(error: ValidationError) -> str:
    """A short, human message for one JSON-Schema failure."""
    kind, limit = error.validator, cast(Any, error.validator_value)
    if kind == "type":
        wanted = limit if isinstance(limit, str) else " or ".join(limit)
        return f"must be {_ARTICLE.get(wanted, 'a ' + wanted)}"
    if kind == "minLength":
        return "can't be blank" if limit == 1 else f"is too short (minimum is {limit} characters)"
    if kind == "maxLength":
        return f"is too long (maximum is {limit} characters)"
    if kind == "pattern":
        blank = isinstance(error.instance, str) and not error.instance.strip()
        return "can't be blank" if blank else "is invalid"
    if kind == "format":
        return f"is not a valid {limit}"
    if kind == "minimum":
        return f"must be greater than or equal to {limit}"
    if kind == "maximum":
        return f"must be less than or equal to {limit}"
    if kind == "maxItems":
        return f"has too many items (maximum is {limit})"
    if kind == "minProperties":
        return "must not be empty"
    return "is invalid"


def field_errors(errors: Iterable[ValidationError], *, root: str) -> FieldErrors:
    """Group failures by field: the innermost property name on the error's path."""
    grouped: FieldErrors = {}
    for error in errors:
        names = [p for p in error.absolute_path if isinstance(p, str)]
        if error.validator == "required":
            required, given = cast(list[str], error.validator_value), cast(Any, error.instance)
            found = [(name, "can't be blank") for name in required if name not in given]
        else:
            found = [(names[-1] if names else root, message(error))]
        for field, text in found:
            if text not in grouped.setdefault(field, []):
                grouped[field].append(text)
    return grouped


class BodyValidator(JSONRequestBodyValidator):
    """JSON bodies: malformed is 400, breaking the schema is 422 with every bad field."""

    @property
    def _validator(self) -> Draft4RequestValidator:
        return Draft4RequestValidator(self._schema, format_checker=FORMATS)

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        """Connexion's version takes a body without Content-Length (chunked) for a missing one."""
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if length is not None and not length.strip().isdigit():
            raise BadRequest.on("body", "has an invalid length", "Content-Length is not a number.")
        if not chunked and not int(length or 0):
            raise Invalid.on("body", "can't be blank", "The request needs a JSON body.")
        messages: list[Message] = []

        async def stream() -> AsyncGenerator[bytes, None]:
            more_body = True
            while more_body:
                message = await receive()
                messages.append(message)
                more_body = message.get("more_body", False)
                yield message.get("body", b"")

        self._validate(await self._parse(stream(), scope=scope))
        # the body is read whole now: tell the WSGI side its length, which chunked bodies lack
        scope = {
            **scope,
            "headers": [(k, v) for k, v in scope["headers"] if k != b"transfer-encoding"],
        }
        MutableHeaders(scope=scope)["content-length"] = str(
            sum(len(m.get("body", b"")) for m in messages)
        )
        return self._insert_messages(receive, messages=messages), scope

    async def _parse(
        self,
        stream: AsyncGenerator[bytes, None],
        scope: Scope,  # noqa: ARG002 - Connexion passes it by name; JSON parsing needs none
    ) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        if not raw.strip():
            return None
        try:
            body = json.loads(raw.decode(self._encoding))
            # escapes of lone surrogates ("\ud800") parse, but no database can store them
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except (UnicodeError, ValueError, RecursionError):
            # ValueError covers malformed JSON and integers too long to convert
            raise BadRequest.on(
                "body", "is not valid JSON", "The request body is not valid UTF-8 JSON."
            ) from None
        return body

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if body is None:
            raise Invalid.on("body", "can't be blank", "The request needs a JSON body.")
        failures = list(self._validator.iter_errors(body))
        if failures:
            raise Invalid(field_errors(failures, root="body"))
        return None


class ParamValidator(ParameterValidator):
    """Path and query parameters: every bad one reported, by name."""

    def validate_request(self, request: ConnexionRequest) -> None:
        sources = {
            "query": request.query_params,
            "path": request.path_params,
            "header": request.headers,
        }
        errors: FieldErrors = {}
        for location, values in sources.items():
            for param in self.parameters.get(location, []):
                name = param["name"]
                value = values.get(name)
                if value is None:
                    if param.get("required"):
                        errors[name] = ["can't be blank"]
                    continue
                validator = Draft4RequestValidator(
                    param.get("schema", param), format_checker=FORMATS
                )
                failures = list(validator.iter_errors(value))
                if failures:
                    errors[name] = [message(f) for f in failures]
        if errors:
            raise Invalid(errors)
