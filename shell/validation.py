"""Request validation: Connexion's validators, reporting each bad field with a short message
instead of one JSON-Schema dump, as 400 (unreadable) or 422 (breaks a rule)."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import AsyncGenerator, Iterable
from typing import Any, cast

import jsonschema_rs
from connexion.exceptions import BadRequestProblem
from connexion.json_schema import Draft4RequestValidator
from connexion.lifecycle import ConnexionRequest
from connexion.validators import FormDataValidator, JSONRequestBodyValidator, ParameterValidator
from jsonschema import FormatChecker, ValidationError
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import Message, Receive, Scope

from db.errors import FieldErrors, Invalid
from shell.problems import BadRequest, OAuthError

# jsonschema's own "email" check only looks for an "@"; this one follows RFC 5321/5322
_EMAIL = jsonschema_rs.Draft202012Validator({"format": "email"}, validate_formats=True)
FORMATS = FormatChecker()
FORMATS.checks("email")(lambda value: not isinstance(value, str) or _EMAIL.is_valid(value))

# Text rules (see the spec's description, **Text**): control characters (Unicode's Cc: C0, DEL
# and C1) refused, blank counted after white space and invisible format characters (Cf). The
# spec's patterns say the same for the Basic Multilingual Plane; these formats hold the whole
# rule, which adds the format characters beyond it.
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # keeps \t \n \r
_BREAK = re.compile("[\n\r\u2028\u2029]")


def blank(value: str) -> bool:
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in value)


@FORMATS.checks("visible-line")
def _visible_line(value: object) -> bool:
    return not isinstance(value, str) or not (
        blank(value) or _CONTROL_IN_TEXT.search(value) or _BREAK.search(value) or "\t" in value
    )


@FORMATS.checks("visible-text")
def _visible_text(value: object) -> bool:
    return not isinstance(value, str) or not (blank(value) or _CONTROL_IN_TEXT.search(value))


def _bad_text(value: str) -> str:
    """Why a string broke a text rule (pattern or format), in the words a person reads."""
    if blank(value):
        return "can't be blank"
    if _CONTROL_IN_TEXT.search(value):
        return "can't contain control characters"
    if _BREAK.search(value):
        return "must be a single line"
    if "\t" in value:  # a tab in a single-line field; bodies keep theirs
        return "can't contain control characters"
    return "is invalid"


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
    if kind == "pattern" or (kind == "format" and str(limit).startswith("visible-")):
        return _bad_text(error.instance) if isinstance(error.instance, str) else "is invalid"
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


def _denormal(value: Any) -> bool:
    if isinstance(value, str):
        return not unicodedata.is_normalized("NFC", value)
    if isinstance(value, dict):
        return any(_denormal(v) for v in value.values())
    if isinstance(value, list):
        return any(_denormal(v) for v in value)
    return False


def nfc(value: Any, schema: dict[str, Any]) -> Any:
    """`value` with its strings in Unicode normalization form C, but passwords: those are
    hashed as typed, so that every password set before keeps working."""
    if isinstance(value, str):
        return value if schema.get("format") == "password" else unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        declared = schema.get("properties", {})
        return {k: nfc(v, declared.get(k, {})) for k, v in value.items()}
    if isinstance(value, list):
        return [nfc(v, schema.get("items", {})) for v in value]
    return value


READ_ONLY_KEY = "read_only_sent"


def read_only_sent(schema: dict[str, Any], body: Any) -> dict[str, Any]:
    """The properties the schema marks `readOnly` that the body carries, by name: a client may
    send back what it was given, but not change it (the handler compares, see
    `shell.state.refuse_read_only`)."""
    found: dict[str, Any] = {}
    if not isinstance(body, dict):
        return found
    for name, declared in schema.get("properties", {}).items():
        if name not in body:
            continue
        if declared.get("readOnly"):
            found[name] = body[name]
        else:
            found.update(read_only_sent(declared, body[name]))
    return found


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

        body = await self._parse(stream(), scope=scope)
        if _denormal(body):  # rare: most text arrives composed already
            body = nfc(body, self._schema)
            # json, not orjson: the body may carry integers too long for 64 bits, which the
            # schema refuses later with a 422 and orjson would fail on now
            again = json.dumps(body, ensure_ascii=False).encode()
            messages = [{"type": "http.request", "body": again, "more_body": False}]
        self._validate(body)
        context = scope.setdefault("extensions", {}).setdefault("connexion_context", {})
        context[READ_ONLY_KEY] = read_only_sent(self._schema, body)
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
                    # one message once: "" fails both minLength and a pattern as blank
                    errors[name] = list(dict.fromkeys(message(f) for f in failures))
        if errors:
            raise Invalid(errors)


class TokenFormValidator(FormDataValidator):
    """Form bodies, which only the OAuth2 token endpoint takes: a failure is an RFC 6749 error
    (`unsupported_grant_type` for another grant, `invalid_request` for anything else)."""

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        try:
            wrapped: tuple[Receive, Scope] = await super().wrap_receive(receive, scope=scope)
        except BadRequestProblem:  # no body at all
            raise OAuthError(
                "invalid_request", "Send grant_type, username and password as a form."
            ) from None
        return wrapped

    def _validate(self, body: Any) -> dict[str, Any] | None:
        failures = list(self._validator.iter_errors(body))
        if not failures:
            return None
        fields = field_errors(failures, root="body")
        if "grant_type" in fields and "grant_type" in body:
            raise OAuthError("unsupported_grant_type", "Only grant_type=password is supported.")
        described = "; ".join(f"{name}: {', '.join(texts)}" for name, texts in fields.items())
        raise OAuthError("invalid_request", described)
