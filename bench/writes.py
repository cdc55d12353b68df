"""The writes `make bench` measures: concurrent (wrk, bench/wrk/writes.lua) and sequential.

Concurrent: several clients on kept-alive connections for a fixed time, each request built by
the Lua script from data written here (seeded users' tokens, payloads, targets). Sequential:
one client making one request after another on a new connection each, with the payloads and
phases of the peers' seeding script (../shared/bench/seed_conduit.py, written again here: that
file is outside the repository), so its rates compare with theirs.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from db.seed import TAG_POOL

SCRIPT = Path(__file__).resolve().parent / "wrk" / "writes.lua"
KINDS = ("article", "comment", "follow", "favourite")
LABELS = {
    "article": "create article",
    "comment": "comment",
    "follow": "follow",
    "favourite": "favourite",
}
# seed_conduit.py's words: its sentences, not db/seed.py's, are what the peers' figures carry
WORDS = [
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
    "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim",
    "ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi",
    "aliquip", "ex", "ea", "commodo", "consequat", "duis", "aute", "irure", "in", "reprehenderit",
    "voluptate", "velit", "esse", "cillum", "fugiat", "nulla", "pariatur", "excepteur", "sint",
    "occaecat", "cupidatat", "non", "proident", "sunt", "culpa", "qui", "officia", "deserunt",
    "mollit", "anim", "id", "est", "laborum", "server", "request", "response", "latency",
    "throughput", "cache", "index", "query", "database", "table", "column", "row", "python",
    "async", "await", "worker", "process", "thread", "socket", "kernel", "memory", "buffer",
    "queue", "stream", "token", "session", "article", "comment", "profile", "follow", "favorite",
    "tag", "feed", "author", "reader", "writer", "editor", "draft", "publish", "review",
]  # fmt: skip
# seeded users whose tokens the concurrent writes use, in turn; the seeded articles they
# comment on and favourite
WRITERS = 8
ARTICLES = 48
# users the sequential phases register for themselves (not timed: argon2 makes it slow)
REGISTERED = 10


def describe(*, writers: int, articles: int, users: int, n: int) -> dict[str, str]:
    """What each kind does, for the report."""
    return {
        "article": "POST /api/articles: 3 tags from 30, a body of about 2 KB, a description "
        "with paragraph breaks, a title and an Idempotency-Key never used before; "
        f"{writers} seeded users in turn",
        "comment": "POST /api/articles/{slug}/comments: 80-400 characters, an "
        f"Idempotency-Key never used before, on {articles} seeded articles by {writers} "
        "seeded users in turn",
        "follow": f"POST, then DELETE, /api/profiles/{{username}}/follow on each of {writers} "
        f"x {users - 1} (seeded user, other seeded user) pairs in turn: every request adds or "
        "removes a follow",
        "favourite": "POST, then DELETE, /api/articles/{slug}/favorite on each of "
        f"{writers} x {articles} (seeded user, seeded article) pairs in turn: every request "
        "adds or removes a favourite",
        "sequential": f"one client, a new connection per request: {REGISTERED} users "
        f"registered for it (not timed), then {n} follows (of each other and of seeded users), "
        f"{n} articles, {n} favourites of those articles and {n} comments on them, with no "
        "Idempotency-Key, as ../shared/bench/seed_conduit.py sends them; rate = requests / the "
        "phase's time",
    }


@dataclass
class Writes:
    """One kind of write on one server, over the rounds."""

    kind: str
    rps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seq_rate: list[float] = field(default_factory=list)
    seq_p50_ms: list[float] = field(default_factory=list)
    seq_errors: int = 0


def call(
    base: str,
    method: str,
    path: str,
    token: str = "",
    body: Any = None,
    extra: dict[str, str] | None = None,
) -> Any:
    """One request on a new connection (urllib keeps none alive); raises on an error status."""
    headers = {"Content-Type": "application/json", **(extra or {})}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def login(base: str, prefix: str, i: int) -> str:
    user = {"email": f"{prefix}user{i:02d}@example.com", "password": f"password-{i:02d}"}
    token: str = call(base, "POST", "/api/users/login", body={"user": user})["user"]["token"]
    return token


def text(rnd: random.Random, chars: int) -> str:
    """Sentences, a paragraph break after about one in seven, as seed_conduit.py writes."""
    parts: list[str] = []
    length = 0
    while length < chars:
        sentence = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 16)))
        parts.append(sentence[0].upper() + sentence[1:] + ".")
        length += len(parts[-1]) + 1
        if rnd.random() < 0.15:
            parts.append("\n\n")
    return " ".join(parts).replace(" \n\n ", "\n\n")[:chars].rstrip() + "."


def article(rnd: random.Random, title: str) -> dict[str, Any]:
    words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 7)))
    return {
        "title": f"{title} {words.capitalize()}",
        "description": text(rnd, rnd.randint(60, 160)),
        "body": text(rnd, 2000),
        "tagList": rnd.sample(TAG_POOL[:30], 3),
    }


# --- concurrent: the data bench/wrk/writes.lua reads --------------------------------------


class Concurrent:
    """The seeded users, payloads and targets the wrk script writes with, on one server.

    Follows and favourites are (user, target) pairs, each turned on and off in turn from the
    state the server says it is in before each run: the few requests in flight when wrk stops
    may or may not have been served."""

    def __init__(
        self, base: str, directory: Path, *, prefix: str, users: int, seed: int = 1
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.base, self.directory, self.runs = base, directory, 0
        rnd = random.Random(seed)  # noqa: S311 - benchmark data, deterministic on purpose
        self.names = [f"{prefix}user{i:02d}" for i in range(users)]
        self.tokens = [login(base, prefix, i) for i in range(min(WRITERS, users))]
        listed = call(base, "GET", f"/api/articles?limit={ARTICLES}")["articles"]
        self.slugs = [a["slug"] for a in listed]
        articles = []
        for _ in range(20):
            payload = json.dumps({"article": article(rnd, "\0")}).split("\\u0000", 1)
            articles.append({"before": payload[0], "after": payload[1]})
        comments = [
            json.dumps({"comment": {"body": text(rnd, rnd.randint(80, 400))}}) for _ in range(20)
        ]
        data = {
            "tokens": self.tokens,
            "articles": articles,
            "comment_paths": [f"/api/articles/{quote(slug)}/comments" for slug in self.slugs],
            "comments": comments,
            "follow": [
                {"user": u + 1, "path": f"/api/profiles/{name}/follow"}
                for u in range(len(self.tokens))
                for name in self.names
                if name != self.names[u]
            ],
            "favourite": [
                {"user": u + 1, "path": f"/api/articles/{quote(slug)}/favorite"}
                for u in range(len(self.tokens))
                for slug in self.slugs
            ],
        }
        (directory / "data.lua").write_text(f"return {_lua(data)}\n")

    def script(self, kind: str, threads: int) -> list[str]:
        """The script and its arguments for one wrk run: each run has titles and keys of its own."""
        self.runs += 1
        data, state = self.directory / "data.lua", self.directory / f"{kind}.lua"
        if kind in ("follow", "favourite"):
            state.write_text(f"return {_lua(self._states(kind))}\n")
        return [str(SCRIPT), kind, str(self.runs), str(threads), str(data), str(state)]

    def _states(self, kind: str) -> list[bool]:
        """Whether each pair is on, in the order of the data's pairs."""
        states: list[bool] = []
        for u, token in enumerate(self.tokens):
            if kind == "follow":
                others = [name for name in self.names if name != self.names[u]]
                states += [self._following(token, name) for name in others]
            else:
                favourited = self._favourited(self.names[u])
                states += [slug in favourited for slug in self.slugs]
        return states

    def _following(self, token: str, name: str) -> bool:
        return bool(call(self.base, "GET", f"/api/profiles/{name}", token)["profile"]["following"])

    def _favourited(self, name: str) -> set[str]:
        slugs: set[str] = set()
        while True:
            path = f"/api/articles?favorited={name}&limit=100&offset={len(slugs)}"
            page = call(self.base, "GET", path)["articles"]
            slugs.update(a["slug"] for a in page)
            if len(page) < 100:
                return slugs


def _lua(value: Any) -> str:
    """A Lua literal: strings byte by byte, so any text survives unchanged."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        safe = (
            chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\{b:03d}" for b in value.encode()
        )
        return '"' + "".join(safe) + '"'
    if isinstance(value, list):
        return "{" + ", ".join(_lua(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


# --- sequential: one client, as the peers' seeding measures ---------------------------------


@dataclass(frozen=True)
class Phase:
    count: int
    seconds: float
    p50_ms: float
    errors: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def sequential(base: str, *, n: int, run: str, seed: int, seeded: list[str]) -> dict[str, Phase]:
    """Follows, articles, favourites and comments, `n` of each, one request after another.

    Users registered for the run (`run` keeps their names apart from an earlier run's) follow
    each other and seeded users, write articles, and favourite and comment on those."""
    rnd = random.Random(seed)  # noqa: S311 - benchmark data, deterministic on purpose
    users = max(REGISTERED, -(-n // len(seeded)))  # enough distinct follows for n
    names = [f"seq{run}user{i:02d}" for i in range(users)]
    tokens = [
        call(base, "POST", "/api/users", body={"user": {"username": name,
             "email": f"{name}@example.com", "password": f"password-{i:02d}"}})["user"]["token"]
        for i, name in enumerate(names)
    ]  # fmt: skip
    pairs = [(i, other) for i in range(users) for other in [*names, *seeded] if other != names[i]]
    follows = rnd.sample(pairs, min(n, len(pairs)))
    articles = [(k % users, article(rnd, f"s{run}-{k:04d}")) for k in range(n)]
    favourites = rnd.sample(range(users * n), min(n, users * n))
    comments = [(rnd.randrange(users), rnd.randrange(n), text(rnd, rnd.randint(80, 400)))
                for _ in range(n)]  # fmt: skip
    slugs: list[str | None] = []

    def create(item: tuple[int, dict[str, Any]]) -> None:
        slugs.append(None)
        answer = call(base, "POST", "/api/articles", tokens[item[0]], {"article": item[1]})
        slugs[-1] = quote(answer["article"]["slug"])

    def favourite(pair: int) -> None:
        if (slug := slugs[pair % n]) is not None:
            call(base, "POST", f"/api/articles/{slug}/favorite", tokens[pair // n])

    def comment(item: tuple[int, int, str]) -> None:
        if (slug := slugs[item[1]]) is not None:
            body = {"comment": {"body": item[2]}}
            call(base, "POST", f"/api/articles/{slug}/comments", tokens[item[0]], body)

    def follow(pair: tuple[int, str]) -> None:
        call(base, "POST", f"/api/profiles/{pair[1]}/follow", tokens[pair[0]])

    return {
        "follow": _phase(follow, follows),
        "article": _phase(create, articles),
        "favourite": _phase(favourite, favourites),
        "comment": _phase(comment, comments),
    }


def _phase(send: Callable[[Any], None], items: Sequence[Any]) -> Phase:
    """Each item sent in turn; a failed request is counted and the phase goes on."""
    times, errors = [], 0
    started = time.perf_counter()
    for item in items:
        begun = time.perf_counter()
        try:
            send(item)
        except OSError:  # urllib's HTTPError (an error status) and URLError among them
            errors += 1
        times.append((time.perf_counter() - begun) * 1000)
    seconds = time.perf_counter() - started
    return Phase(len(items), seconds, statistics.median(times), errors)
