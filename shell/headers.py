"""The headers every answer carries: its request id, and security headers (nosniff, no
referrer, a Content-Security-Policy). An API answer is data, never a page, so nothing in it may
load, run or be framed; the one page served (Swagger UI) gets a policy of its own that allows
exactly its own inline blocks (`page_csp`)."""

from __future__ import annotations

import base64
import hashlib
import re

API_CSP = b"default-src 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_INLINE = re.compile(rb"<(script|style)>(.*?)</\1>", re.DOTALL)


def decorate(headers: list[tuple[bytes, bytes]], request_id: bytes) -> list[tuple[bytes, bytes]]:
    """`headers` with the request id and the security headers; the API's policy unless the
    answer has one of its own."""
    decorated = [h for h in headers if h[0] != b"x-request-id"]
    decorated.append((b"x-request-id", request_id))
    decorated.extend(SECURITY_HEADERS)
    if not any(name == b"content-security-policy" for name, _ in decorated):
        decorated.append((b"content-security-policy", API_CSP))
    return decorated


def is_page(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(n == b"content-type" and v.startswith(b"text/html") for n, v in headers)


def page_csp(page: bytes) -> str:
    """The policy for an HTML page we serve (Swagger UI): its own origin for everything it
    loads and calls, `data:` images (its icons), and exactly the inline script and style
    blocks the page has, by hash, so nothing injected runs."""
    hashes: dict[bytes, list[str]] = {b"script": [], b"style": []}
    for kind, content in _INLINE.findall(page):
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    return "; ".join(
        [
            "default-src 'self'",
            " ".join(["script-src 'self'", *hashes[b"script"]]),
            " ".join(["style-src 'self'", *hashes[b"style"]]),
            "img-src 'self' data:",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )
