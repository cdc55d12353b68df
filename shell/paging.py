"""Paging: links (RFC 8288) to a list's first, previous, next and last pages, as absolute URLs
that keep the request's filters, and the cursors of keyset paging.

A cursor names where a page ended (db/articles.py `Position`) and the list it belongs to: the
list, its filters, its search and, for the feed, its caller. It is signed with an HMAC keyed
from SECRET_KEY, so a client can neither make one nor move one to another list: it reads
`v1.<position>.<signature>`, the position base64url JSON, which carries a digest of the list
rather than the list itself (a search of 200 characters would not fit in 512). A cursor is
only as permanent as SECRET_KEY; rotating the key ends the walks under way with a 422.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from flask import request

from db.articles import Position
from db.errors import Invalid
from shell import state

# the largest offset the spec accepts: a page past it gets no link, which could not be followed
MAX_OFFSET = 10_000
_PAGING = ("limit", "offset", "cursor")
_CURSOR_PREFIX = "v1."


Paged = tuple[dict[str, Any], int, dict[str, str]]


def page(
    body: dict[str, Any],
    total: int,
    *,
    limit: int,
    offset: int,
    cursor_mode: bool = False,
    next_cursor: str | None = None,
) -> Paged:
    """The list's body with its `Link` header; in cursor mode the next link is the cursor's."""
    if cursor_mode:
        return body, 200, {"Link": cursor_links(limit=limit, next_cursor=next_cursor)}
    return body, 200, {"Link": links(total, limit=limit, offset=offset)}


@functools.cache
def _cursor_key(secret: str) -> bytes:
    """The cursors' own key, derived from SECRET_KEY (never the key that signs tokens)."""
    return hmac.new(secret.encode(), b"conduit paging cursor v1", hashlib.sha256).digest()


def _signature(body: bytes) -> bytes:
    key = _cursor_key(state.current().services.settings.secret_key)
    return hmac.new(key, body, hashlib.sha256).digest()[:16]


def _list_digest(binding: Mapping[str, Any]) -> str:
    canonical = orjson.dumps(dict(binding), option=orjson.OPT_SORT_KEYS)
    return _b64(hashlib.sha256(canonical).digest()[:9])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cursor_after(binding: Mapping[str, Any], position: Position) -> str:
    """The cursor of the page that follows `position` in the list `binding` names."""
    created = position.created_at.isoformat()
    body = orjson.dumps([_list_digest(binding), position.rank, created, position.id])
    return f"{_CURSOR_PREFIX}{_b64(body)}.{_b64(_signature(body))}"


def position_of(cursor: str | None, binding: Mapping[str, Any], offset: int) -> Position | None:
    """Where the page `cursor` asks for starts, in the list `binding` names; a 422 problem for
    a cursor that is not one of ours, was changed, or belongs to another list, and for a cursor
    sent with an offset past 0 (0 is the default, which generated clients send anyway)."""
    if cursor is None:
        return None
    if offset:
        raise Invalid.on("cursor", "can't be combined with an offset")
    body = _verified(cursor)
    try:
        digest, rank, created, row_id = orjson.loads(body)
        position = Position(datetime.fromisoformat(created), row_id, rank)
    except (ValueError, TypeError):  # signed by us, so only an older format gets here
        raise Invalid.on("cursor", "is invalid") from None
    if not hmac.compare_digest(str(digest), _list_digest(binding)):
        raise Invalid.on("cursor", "belongs to another list: send its filters and q unchanged")
    if not isinstance(row_id, int) or not (rank is None or isinstance(rank, float | int)):
        raise Invalid.on("cursor", "is invalid")
    return position


def _verified(cursor: str) -> bytes:
    """The cursor's body, if we signed it as it is."""
    prefix, _, rest = cursor.partition(_CURSOR_PREFIX)
    encoded, _, signature = rest.partition(".")
    try:
        body, mac = _unb64(encoded), _unb64(signature)
    except (binascii.Error, ValueError):
        raise Invalid.on("cursor", "is invalid") from None
    if prefix or not body or not hmac.compare_digest(mac, _signature(body)):
        raise Invalid.on("cursor", "is invalid")
    return body


def _kept_filters() -> str:
    """The request's URL up to its paging parameters: the filters are encoded once."""
    kept = urlencode([(k, v) for k, v in request.args.items(multi=True) if k not in _PAGING])
    return f"{request.base_url}?{kept}&" if kept else f"{request.base_url}?"


def cursor_links(*, limit: int, next_cursor: str | None) -> str:
    """A page reached by cursor links to the first page and, while more follow, to the next,
    by its cursor (there is no last: keyset paging does not count its way there)."""
    url = _kept_filters()
    found = [f'<{url}limit={limit}&offset=0>; rel="first"']
    if next_cursor is not None:
        found.append(f'<{url}limit={limit}&cursor={next_cursor}>; rel="next"')
    return ", ".join(found)


def links(total: int, *, limit: int, offset: int) -> str:
    targets = {
        "first": 0,
        "prev": max(offset - limit, 0) if offset > 0 else None,
        "next": offset + limit if offset + limit < total else None,
        "last": max(total - 1, 0) // limit * limit,
    }
    url = _kept_filters()  # only the offset differs from link to link
    return ", ".join(
        f'<{url}limit={limit}&offset={at}>; rel="{rel}"'
        for rel, at in targets.items()
        if at is not None and at <= MAX_OFFSET
    )
