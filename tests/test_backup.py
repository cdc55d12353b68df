"""The backup and restore commands of docs/operations.md, run as written: what comes back is
what was kept.

PostgreSQL: `pg_dump --format=custom` of the serving database, `pg_restore --no-owner` into a
new one. SQLite: `sqlite3 FILE ".backup COPY"`. Either way the restored database answers the
API like the original.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from app import create_app
from db import seed
from db.session import make_engine
from tests.conftest import fresh_database_url, migrated_engine
from tests.helpers import app_settings

TABLES = ("users", "follows", "articles", "article_slugs", "tags", "article_tags", "favorites",
          "comments", "counters")  # fmt: skip


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian's postgresql-client or sqlite3 package)")
    return found


def _libpq(url: str) -> str:
    """The URL as the PostgreSQL tools take it: without SQLAlchemy's `+psycopg`."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}  # noqa: S608  # our own table names
    finally:
        engine.dispose()


def _backup_and_restore(kind: str, original: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        copy = tmp_path / "backup.db"
        source = make_url(original).database
        subprocess.run([_tool("sqlite3"), str(source), f".backup '{copy}'"], check=True)
        yield f"sqlite:///{copy}"
        return
    dump = tmp_path / "conduit.dump"
    subprocess.run([_tool("pg_dump"), "--format=custom", "--file", str(dump), _libpq(original)],
                   check=True)  # fmt: skip
    for restored in fresh_database_url("postgresql", tmp_path, "unused"):
        subprocess.run([_tool("pg_restore"), "--no-owner", "--dbname", _libpq(restored), str(dump)],
                       check=True)  # fmt: skip
        yield restored


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_backup_restores_every_row_and_serves_them(kind: str, tmp_path: Path) -> None:
    for original in fresh_database_url(kind, tmp_path, "conduit.db"):
        with migrated_engine(original):
            pass
        engine = make_engine(original)
        try:
            seed.seed(engine, seed.parse(["--users", "4", "--articles", "6", "--favorites", "5",
                                          "--comments", "3"]), progress=False)  # fmt: skip
        finally:
            engine.dispose()
        kept = _counts(original)
        assert kept["articles"] == 6
        for restored in _backup_and_restore(kind, original, tmp_path):
            assert _counts(restored) == kept
            app: Any = create_app(app_settings(restored))
            try:
                with app.test_client() as client:
                    listed = client.get("/api/articles?limit=100").json()
            finally:
                app.services.engine.dispose()  # before its database is dropped
            assert listed["articlesCount"] == 6
            assert len(listed["articles"]) == 6
