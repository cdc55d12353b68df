"""Deep pages and full-text search, measured as `make bench` measures (`python -m bench.depth`).

- **Deep pages** (PostgreSQL): 1,000,000 articles made by `generate_series` in the database.
  The first page, the page a cursor gives at depth 500,000 (reached by walking the list by
  cursor, 100 rows a page), and offset 10,000, the deepest an offset goes.
- **Search**: 100,000 articles of the seeder's text with a vocabulary of 150,000 words drawn by
  Zipf's law (db/seed.py), on PostgreSQL and on SQLite. The plain first page, a search for a
  rare word (under 10 articles) and one for a common word (over 10 % of them), with
  PostgreSQL's `EXPLAIN ANALYZE` of both searches.

The production server (`make serve`, 2 workers, the production defaults), wrk with the same
connections, duration and rounds as bench.run, the requests interleaved round by round; the
medians go to bench/results/<date>-depth-and-search.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.run import PRODUCTION, RESULTS, fresh_database, server, wrk
from db import articles, migrate
from db.articles import Filters
from db.seed import Shape, seed, vocabulary
from db.session import make_engine

DEEP_ARTICLES = 1_000_000
DEPTH = 500_000
SEARCH_ARTICLES = 100_000
VOCABULARY = 150_000
PORT = 5310

_GENERATE = """
INSERT INTO articles (slug, title, description, body, author_id, created_at, updated_at)
SELECT 'deep-' || g, 'Deep article ' || g, 'Number ' || g || ' of many',
       'The body of article ' || g || ', one of a million.', :author,
       :start + g * interval '1 millisecond', :start + g * interval '1 millisecond'
FROM generate_series(1, :n) AS g
"""


@dataclass
class Measured:
    name: str
    path: str
    rps: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    errors: int = 0

    def median(self) -> tuple[float, float]:
        return statistics.median(self.rps), statistics.median(self.p99)


def _author(conn: Any) -> int:
    author: int = conn.execute(
        text(
            "INSERT INTO users (username, email, password_hash, created_at, updated_at)"
            " VALUES ('deepauthor', 'deep@example.com', 'x', now(), now()) RETURNING id"
        )
    ).scalar_one()
    return author


def seed_deep(url: str, n: int) -> float:
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        migrate.upgrade(conn)
        author = _author(conn)
        start = datetime(2020, 1, 1, tzinfo=UTC)
        conn.execute(text(_GENERATE), {"author": author, "start": start, "n": n})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def seed_search(url: str, n: int) -> float:
    engine = make_engine(url)
    with engine.begin() as conn:
        migrate.upgrade(conn)
    started = time.perf_counter()
    shape = Shape(articles=n, favorites=0, comments=0, body_chars=600, vocabulary=VOCABULARY)
    seed(engine, shape, progress=False)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def rare_and_common(url: str, n: int) -> tuple[str, str]:
    """A rare word of the vocabulary (in 3 to 9 articles) and a common one (in 10 to 30 % of
    them), counted on the SQLite dataset; the seeder is deterministic, so PostgreSQL's holds
    the same text."""
    words = vocabulary(VOCABULARY)
    engine = make_engine(url)
    with engine.connect() as conn:

        def articles_with(word: str) -> int:
            match = text("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH :q")
            found: int = conn.execute(match, {"q": f'"{word}"'}).scalar_one()
            return found

        rare = next((w for w in reversed(words) if 3 <= articles_with(w) <= 9), None)
        common = next((w for w in words[35:] if 0.1 * n < articles_with(w) < 0.3 * n), None)
    if rare is None or common is None:
        raise SystemExit(f"no word in 3 to 9 articles, or none in 10 to 30 %: {rare}, {common}")
    engine.dispose()
    return rare, common


def count(base: str, path: str) -> int:
    with urllib.request.urlopen(base + path) as r:
        found: int = json.load(r)["articlesCount"]
    return found


def cursor_at(base: str, depth: int) -> str:
    """The cursor after `depth` rows of the list, walked 100 rows a page as a client would."""
    cursor = ""
    for _ in range(depth // 100):
        query = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        with urllib.request.urlopen(f"{base}/api/articles?{urllib.parse.urlencode(query)}") as r:
            cursor = json.load(r)["nextCursor"]
    return cursor


def explain(url: str, q: str) -> str:
    """PostgreSQL's EXPLAIN ANALYZE of the search's own statement, as the list runs it."""
    engine = make_engine(url)
    with engine.connect() as conn:
        # its exact statement, as the list runs it
        statement, _ = articles._list_statements("postgresql", frozenset({"q"}), False)
        values = {**Filters(q=q).parameters("postgresql"), "limit": 20, "offset": 0}
        bound = statement.params(values)  # a word of the benchmark's own, written in
        sql = bound.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").scalars()
        text_plan = "\n".join(plan)
    engine.dispose()
    return text_plan


def measure(
    base: str, requests: list[Measured], args: argparse.Namespace, note: Callable[[str], None]
) -> None:
    shape = {"connections": args.connections, "threads": args.threads}
    for round_ in range(args.rounds):
        for r in requests:
            wrk(base + r.path, "", seconds=args.warmup, **shape)
            m = wrk(base + r.path, "", seconds=args.duration, **shape)
            r.rps.append(m["rps"])
            r.p99.append(m["p99"])
            r.errors += int(m["errors"])
            note(f"round {round_ + 1} {r.name:<28} {m['rps']:8.0f} req/s  p99 {m['p99']:.1f} ms")


def _table(rows: list[Measured], against: Measured) -> list[str]:
    base_rps, base_p99 = against.median()
    lines = ["| request | req/s | p99 ms | req/s vs first page | p99 vs first page | errors |"]
    lines.append("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        rps, p99 = r.median()
        lines.append(
            f"| {r.name} (`{r.path[:60]}`) | {rps:.0f} | {p99:.1f} | {rps / base_rps:.2f} "
            f"| {p99 / base_p99:.2f} | {r.errors} |"
        )
    return lines


def deep_pages(args: argparse.Namespace, work: Path, note: Callable[[str], None]) -> list[str]:
    with fresh_database("postgresql", work) as url:
        took = seed_deep(url, args.deep)
        note(f"seeded {args.deep} articles in {took:.0f} s (generate_series)")
        with server(url, PORT, 2, work / "deep.log", PRODUCTION) as _:
            base = f"http://127.0.0.1:{PORT}"
            started = time.perf_counter()
            cursor = cursor_at(base, args.depth)
            note(f"walked to depth {args.depth} by cursor in {time.perf_counter() - started:.0f} s")
            first = Measured("first page", "/api/articles?limit=20")
            deep = Measured(
                f"cursor at depth {args.depth:,}", f"/api/articles?limit=20&cursor={cursor}"
            )
            offset = Measured("offset 10,000", "/api/articles?limit=20&offset=10000")
            measure(base, [first, deep, offset], args, note)
    return [
        f"### Deep pages: PostgreSQL, {args.deep:,} articles",
        "",
        *_table([first, deep, offset], first),
        "",
    ]


def search(args: argparse.Namespace, work: Path, note: Callable[[str], None]) -> list[str]:
    out: list[str] = []
    sqlite_url = f"sqlite:///{work / 'search.db'}"
    took = seed_search(sqlite_url, args.search)
    note(f"seeded {args.search} articles on SQLite in {took:.0f} s")
    rare, common = rare_and_common(sqlite_url, args.search)
    requests = {
        "plain first page": "/api/articles?limit=20",
        "search, a rare word": f"/api/articles?limit=20&q={rare}",
        "search, a common word": f"/api/articles?limit=20&q={common}",
    }
    plans: dict[str, str] = {}
    for backend in ("postgresql", "sqlite"):
        measured = [Measured(name, path) for name, path in requests.items()]
        given = (
            fresh_database(backend, work) if backend == "postgresql" else nullcontext(sqlite_url)
        )
        with given as url:
            if backend == "postgresql":
                took = seed_search(url, args.search)
                note(f"seeded {args.search} articles on PostgreSQL in {took:.0f} s")
            with server(url, PORT, 2, work / f"search-{backend}.log", PRODUCTION):
                base = f"http://127.0.0.1:{PORT}"
                for r in measured[1:]:
                    r.name += f" ({count(base, r.path):,} of {args.search:,} articles)"
                measure(base, measured, args, note)
            if backend == "postgresql":
                plans = {word: explain(url, word) for word in (rare, common)}
        title = "PostgreSQL" if backend == "postgresql" else "SQLite (FTS5)"
        out += [f"### Search: {title}, {args.search:,} articles, {VOCABULARY:,} words", ""]
        out += [*_table(measured, measured[0]), ""]
    for word, plan in plans.items():
        out += [f"PostgreSQL's plan for `q={word}`:", "", "```", plan, "```", ""]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.depth", description=__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--deep", type=int, default=DEEP_ARTICLES)
    p.add_argument("--depth", type=int, default=DEPTH)
    p.add_argument("--search", type=int, default=SEARCH_ARTICLES)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Deep pages and search ({stamp})",
        "",
        "`python -m bench.depth`: "
        + " ".join(f"--{k}={v}" for k, v in vars(args).items() if k != "out"),
        "",
    ]

    log: list[str] = []

    def note(line: str) -> None:
        print(line, flush=True)
        log.append(line)

    with tempfile.TemporaryDirectory(prefix="bench-depth-") as tmp:
        work = Path(tmp)
        deep = deep_pages(args, work, note) if args.deep else []
        found = search(args, work, note) if args.search else []
    lines += [*deep, *found, "The run, round by round:", "", "```", *log, "```"]
    out = args.out or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-depth-and-search.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
