"""Paging links (RFC 8288): every list answers with where its first, previous, next and last
pages are, as absolute URLs that keep the request's filters."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import request

# the largest offset the spec accepts: a page past it gets no link, which could not be followed
MAX_OFFSET = 10_000
_PAGING = ("limit", "offset")


Paged = tuple[dict[str, Any], int, dict[str, str]]


def page(body: dict[str, Any], total: int, *, limit: int, offset: int) -> Paged:
    """The list's body with its `Link` header."""
    return body, 200, {"Link": links(total, limit=limit, offset=offset)}


def links(total: int, *, limit: int, offset: int) -> str:
    targets = {
        "first": 0,
        "prev": max(offset - limit, 0) if offset > 0 else None,
        "next": offset + limit if offset + limit < total else None,
        "last": max(total - 1, 0) // limit * limit,
    }
    # the filters are encoded once; only the offset differs from link to link
    kept = urlencode([(k, v) for k, v in request.args.items(multi=True) if k not in _PAGING])
    url = f"{request.base_url}?{kept}&" if kept else f"{request.base_url}?"
    return ", ".join(
        f'<{url}limit={limit}&offset={at}>; rel="{rel}"'
        for rel, at in targets.items()
        if at is not None and at <= MAX_OFFSET
    )
