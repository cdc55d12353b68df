"""OWASP API7:2023 server-side request forgery: the one user-supplied URL the API keeps, a
profile's `image`, is stored and echoed, never fetched. Pointed at a listener on this machine,
the listener must see no connection while the URL is saved and rendered everywhere it appears.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import Api


class Listener:
    """A TCP listener on loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    watching = Listener()
    yield watching
    watching.close()


def test_api7_an_image_url_is_stored_and_rendered_but_never_fetched(
    api: Api, client: Any, listener: Listener
) -> None:
    urls = [
        f"http://127.0.0.1:{listener.port}/avatar.png",
        f"http://localhost:{listener.port}/avatar.png?size=large",
    ]
    author, reader = api.register(), api.register()
    api.follow(reader, author)
    for url in urls:
        r = client.put("/api/user", json={"user": {"image": url}}, headers=author.headers)
        assert r.status_code == 200, r.text
        assert r.json()["user"]["image"] == url
        article = api.article(author)
        api.comment(author, article["slug"])
        rendered = [
            client.get("/api/user", headers=author.headers).json()["user"],
            client.get(f"/api/profiles/{author.username}").json()["profile"],
            client.get(f"/api/articles/{article['slug']}").json()["article"]["author"],
            client.get("/api/articles").json()["articles"][0]["author"],
            client.get("/api/articles/feed", headers=reader.headers).json()["articles"][0][
                "author"
            ],
            client.get(f"/api/articles/{article['slug']}/comments").json()["comments"][0]["author"],
        ]
        assert [who["image"] for who in rendered] == [url] * len(rendered)
    time.sleep(0.3)  # a fetch started in the background would have connected by now
    assert listener.connections == 0
    # and the listener does see a connection when something fetches the URL
    with contextlib.suppress(OSError):  # it closes at once: no HTTP answer
        urllib.request.urlopen(urls[0], timeout=2)
    deadline = time.monotonic() + 5
    while listener.connections == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listener.connections == 1


@pytest.mark.parametrize(
    "image",
    ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "javascript:alert(1)", "ftp://x/y.png"],
)
def test_api7_an_image_that_is_no_http_url_is_refused(api: Api, client: Any, image: str) -> None:
    user = api.register()
    r = client.put("/api/user", json={"user": {"image": image}}, headers=user.headers)
    assert r.status_code == 422, r.text
    assert "image" in r.json()["errors"]
