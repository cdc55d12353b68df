"""The body limit: a request body is read whole, on the event loop, up to `max_bytes` and for at
most `timeout` seconds from when reading began.

A client trickling bytes (or sending fewer than it announced) would hold a connection and its
buffer for ever, and no server in front of the app is guaranteed to stop it (uvicorn has no
body timeout). What is refused is kept as the verdict and raised by the pipeline in its turn,
after authorization: a caller who may not call learns nothing from the body's size.

A body that is too large is read on and thrown away, up to `DRAIN_FACTOR` times the limit and
within the same time: uvicorn closes a connection whose request it did not read whole, and a
client still writing its body would see that close (a broken pipe) instead of the 413. Past
that much, the connection is let go.
"""

from __future__ import annotations

import asyncio

from starlette.types import Receive

from shell.problems import PayloadTooLarge, RequestTimeout

DRAIN_FACTOR = 4


async def read(
    receive: Receive,
    *,
    length: str | None,
    chunked: bool,
    max_bytes: int,
    timeout: float,
) -> tuple[bytes, Exception | None]:
    """The whole body, or why it is refused."""
    announced = int(length) if length is not None and length.isdigit() else 0
    if not announced and not chunked:
        return b"", None  # no body to wait for
    chunks: list[bytes] = []
    seen = 0
    try:
        async with asyncio.timeout(timeout):
            more = announced <= max_bytes * DRAIN_FACTOR
            while more:
                message = await receive()
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen <= max_bytes:
                    chunks.append(chunk)
                more = message.get("more_body", False) and seen <= max_bytes * DRAIN_FACTOR
    except TimeoutError:
        if announced > max_bytes or seen > max_bytes:
            return b"", _too_large(max_bytes)
        return b"", RequestTimeout.on(
            "body",
            "took too long to arrive",
            f"The request body did not arrive within {timeout:g} seconds.",
        )
    if announced > max_bytes or seen > max_bytes:
        return b"", _too_large(max_bytes)
    return b"".join(chunks), None


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge.on(
        "body", "is too large", f"The request body is larger than {max_bytes} bytes."
    )
