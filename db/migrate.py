"""Alembic, driven from code: the only way a schema gets created, tests included."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from db.models import SEARCH_OBJECTS

MIGRATIONS = Path(__file__).parent / "migrations"
# the PostgreSQL advisory lock that migrations of one database take in turn (env.py), so that
# app processes starting together do not all create the schema: "conduit" in ASCII
LOCK_KEY = 0x636F6E64756974


def config(connection: Connection | None = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    command.upgrade(config(connection), revision)


def downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(config(connection), revision)


# the signature Alembic calls its include_name hook with; only the name decides here
def include_name(name: str | None, type_: str, parents: object) -> bool:  # noqa: ARG001
    """What Alembic compares with the models: all but the search index's engine-specific parts
    (db/models.py SEARCH_OBJECTS), which migration 0007 makes in each engine's own terms."""
    return name not in SEARCH_OBJECTS
