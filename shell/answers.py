"""What the pipeline sends back: a status, headers and a body, whole (`Answer`).

Every answer of the service is a small document made in memory (a JSON body, a problem, a page
of Swagger UI), so the pipeline carries it as one value and sends it in two ASGI messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import Send

JSON = "application/json; charset=utf-8"


@dataclass(slots=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @classmethod
    def json(
        cls,
        status: int,
        body: bytes | None,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = JSON,
    ) -> Answer:
        """`body` as JSON with its length; None is no body at all, and no content type."""
        given = (headers or {}).items()
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in given]
        if body is None:
            return cls(status, raw, b"")
        raw += [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
        return cls(status, raw, body)

    async def send(self, send: Send, *, head: bool = False) -> None:
        """Both messages; a HEAD request gets the headers of the GET and no body."""
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": b"" if head else self.body})
