"""Conditional requests (RFC 9110 section 13): strong ETags on what the reads show, 304 for a
client that already has it, 412 for a write based on something that changed since.

The entity tag is a hash of the exact bytes of the JSON answer, so it is strong by
construction: two answers share a tag only if they are byte for byte the same. An answer that
depends on the caller (`following`, `favorited`, the current user) therefore has a tag per
caller too, and says so with `Vary: Authorization`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import orjson
from flask import request
from werkzeug.http import parse_etags

from db.errors import DomainError

# who may keep a copy: anyone (revalidating first), only the caller's own client (revalidating
# first), or nobody, for what carries a token
PUBLIC = "no-cache"
PRIVATE = "private, no-cache"
NO_STORE = "no-store"

Reply = tuple[bytes | None, int, dict[str, str]]


class PreconditionFailed(DomainError):
    status_code = 412


def etag(data: bytes) -> str:
    digest = hashlib.blake2b(data, digest_size=16).digest()
    return '"' + base64.urlsafe_b64encode(digest).rstrip(b"=").decode() + '"'


def shown(body: dict[str, Any], *, cache: str, per_caller: bool) -> Reply:
    """The answer to a GET, or 304 with no body when the client's copy is this one.

    If-None-Match compares weakly (a `W/` tag of ours still matches), as RFC 9110 says."""
    data = orjson.dumps(body)
    tag = etag(data)
    headers = {"ETag": tag, "Cache-Control": cache}
    if per_caller:
        headers["Vary"] = "Authorization"
    if (sent := request.headers.get("If-None-Match")) is not None:
        tags = parse_etags(sent)
        if tags.star_tag or tags.contains_weak(tag.strip('"')):
            return None, 304, headers
    return data, 200, headers


def require_current(current: Callable[[], dict[str, Any]]) -> None:
    """Before a write: with `If-Match`, the client must hold exactly what `current()` shows
    now (strong comparison), or the write is refused with 412 and changes nothing. Without the
    header the write goes ahead, as it always has. `current` runs only when needed."""
    sent = request.headers.get("If-Match")
    if sent is None:
        return
    tags = parse_etags(sent)
    if tags.star_tag:  # any current representation will do, and the handler found one
        return
    if not tags.contains(etag(orjson.dumps(current())).strip('"')):
        raise PreconditionFailed(
            {"If-Match": ["does not match the current version"]},
            "It has changed since you read it: read it again (its ETag too) and retry.",
        )
