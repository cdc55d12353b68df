"""Validation: each operation's parameters and body checked against openapi/api.yaml with
Connexion's OpenAPI schema validators and bound to the handler's arguments by Connexion
(`RequestValidator`), each bad field reported with a short message instead of one JSON-Schema
dump, as 400 (unreadable) or 422 (breaks a rule)."""

from __future__ import annotations

import functools
import inspect
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl

import jsonschema_rs
from connexion.datastructures import MediaTypeDict
from connexion.decorators.parameter import get_arguments, pythonic
from connexion.exceptions import ProblemException
from connexion.json_schema import Draft4RequestValidator
from connexion.middleware.response_validation import ResponseValidationOperation
from connexion.operations import AbstractOperation
from connexion.utils import extract_content_type, split_content_type
from jsonschema import FormatChecker, ValidationError
from starlette.datastructures import Headers, QueryParams
from starlette.types import Message, Receive, Scope, Send

from db.errors import FieldErrors, Invalid
from shell.problems import BadRequest, OAuthError, UnsupportedMediaType
from shell.problems import answer as problems_answer

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

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


@dataclass(frozen=True, slots=True)
class _Parameter:
    where: str  # query, path or header
    name: str
    required: bool
    validator: Draft4RequestValidator


class RequestValidator:
    """One operation's parameters and body, checked as Connexion's request validation checks
    them (parameters, then the media type, then the body against its schema), each failure
    reported by field in a short message: 400 for what cannot be read, 415 for a media type
    the operation does not take, 422 for what breaks a rule. Built once per operation, so the
    schemas are compiled once."""

    def __init__(self, operation: AbstractOperation) -> None:
        self.operation = operation
        self.uri_parser = operation.uri_parser_class(
            operation.parameters, operation.body_definition()
        )
        self.parameters = [
            _Parameter(
                p["in"],
                p["name"],
                bool(p.get("required")),
                Draft4RequestValidator(p.get("schema", p), format_checker=FORMATS),
            )
            for where in ("query", "path", "header")
            for p in operation.parameters
            if p["in"] == where
        ]
        self.consumes = operation.consumes
        self.media_types = MediaTypeDict([(c.lower(), None) for c in self.consumes])
        self.required = bool(operation.request_body.get("required", False))
        self.bodies: dict[str, tuple[dict[str, Any], Draft4RequestValidator]] = {}
        for media_type in operation.request_body.get("content", {}):
            schema = operation.body_schema(media_type)
            if schema:
                validator = Draft4RequestValidator(schema, format_checker=FORMATS)
                self.bodies[media_type] = (schema, validator)

    def arguments(
        self, scope: Scope, path_params: dict[str, Any], body: bytes
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The handler's keyword arguments, bound by Connexion from what was validated, and the
        read-only fields the body sent back."""
        headers = Headers(scope=scope)
        query = QueryParams(scope["query_string"])
        sources = {
            "query": self.uri_parser.resolve_query({k: query.getlist(k) for k in query}),
            "path": self.uri_parser.resolve_path(path_params),
            "header": headers,
        }
        self._check_parameters(sources)
        mime_type, encoding = split_content_type(extract_content_type(scope["headers"]))
        if mime_type is None:
            mime_type = self.consumes[0] if self.consumes else "application/octet-stream"
        if self.consumes and mime_type.lower() not in self.media_types:
            raise UnsupportedMediaType.on(
                "body",
                f"must be {' or '.join(self.consumes)}",
                f"Invalid Content-type ({mime_type}), expected {self.consumes}",
            )
        parsed: Any = None
        read_only: dict[str, Any] = {}
        if mime_type in self.bodies:
            schema, validator = self.bodies[mime_type]
            if mime_type in FORM_CONTENT_TYPES:
                parsed = self._form(headers, body, validator)
            else:
                parsed = self._json(headers, body, encoding or "utf-8", schema, validator)
                read_only = read_only_sent(schema, parsed)
        arguments = get_arguments(
            self.operation,
            path_params=sources["path"],
            query_params=sources["query"],
            body=parsed,
            files={},
            arguments=list(self.handler_arguments),
            has_kwargs=False,
            sanitize=pythonic,
            content_type=mime_type,
        )
        return arguments, read_only

    @functools.cached_property
    def handler_arguments(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.operation.function).parameters)

    def _check_parameters(self, sources: dict[str, Any]) -> None:
        """Every bad parameter, reported by name."""
        errors: FieldErrors = {}
        for param in self.parameters:
            value = sources[param.where].get(param.name)
            if value is None:
                if param.required:
                    errors[param.name] = ["can't be blank"]
                continue
            failures = list(param.validator.iter_errors(value))
            if failures:
                # one message once: "" fails both minLength and a pattern as blank
                errors[param.name] = list(dict.fromkeys(message(f) for f in failures))
        if errors:
            raise Invalid(errors)

    def _json(
        self,
        headers: Headers,
        raw: bytes,
        encoding: str,
        schema: dict[str, Any],
        validator: Draft4RequestValidator,
    ) -> Any:
        """JSON bodies: malformed is 400, breaking the schema is 422 with every bad field."""
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if length is not None and not length.strip().isdigit():
            raise BadRequest.on("body", "has an invalid length", "Content-Length is not a number.")
        if not raw.strip() or (not chunked and not int(length or 0)):
            raise Invalid.on("body", "can't be blank", "The request needs a JSON body.")
        try:
            body = json.loads(raw.decode(encoding))
            # escapes of lone surrogates ("\ud800") parse, but no database can store them
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except (UnicodeError, ValueError, RecursionError, LookupError):
            # ValueError covers malformed JSON and integers too long to convert
            raise BadRequest.on(
                "body", "is not valid JSON", "The request body is not valid UTF-8 JSON."
            ) from None
        if body is None:
            raise Invalid.on("body", "can't be blank", "The request needs a JSON body.")
        if _denormal(body):  # rare: most text arrives composed already
            body = nfc(body, schema)
        failures = list(validator.iter_errors(body))
        if failures:
            raise Invalid(field_errors(failures, root="body"))
        return body

    def _form(self, headers: Headers, raw: bytes, validator: Draft4RequestValidator) -> Any:
        """Form bodies, which only the OAuth2 token endpoint takes: a failure is an RFC 6749
        error (`unsupported_grant_type` for another grant, `invalid_request` for anything
        else). Fields are read as Starlette's form parser reads them."""
        if not int(headers.get("content-length", 0) or 0) and self.required:
            raise OAuthError("invalid_request", "Send grant_type, username and password as a form.")
        fields: dict[str, list[str]] = {}
        for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            fields.setdefault(name, []).append(value)
        body = self.uri_parser.resolve_form(fields)
        failures = list(validator.iter_errors(body))
        if not failures:
            return body
        errors = field_errors(failures, root="body")
        if "grant_type" in errors and "grant_type" in body:
            raise OAuthError("unsupported_grant_type", "Only grant_type=password is supported.")
        described = "; ".join(f"{name}: {', '.join(texts)}" for name, texts in errors.items())
        raise OAuthError("invalid_request", described)


class ResponseCheck:
    """In tests: every answer to an operation checked against the document, with Connexion's
    own response validation (media type, required headers, body schema); an answer that breaks
    it is a 500, so the test that caused it fails."""

    async def __call__(self, operation: Any, answer: Any, scope: Scope, send: Send) -> None:
        async def answering(_scope: Scope, _receive: Receive, checked_send: Send) -> None:
            await answer.send(checked_send)

        check = ResponseValidationOperation(answering, operation=operation.spec)
        try:
            await check(scope, _nothing_to_receive, send)
        except ProblemException as exc:  # nothing was sent: the validator holds the answer
            await problems_answer(exc).send(send)


async def _nothing_to_receive() -> Message:  # pragma: no cover - an answer receives nothing
    return {"type": "http.disconnect"}
