"""Small helpers shared by the query modules."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_insert(s: Session, model: type[Any]) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (PostgreSQL and SQLite spell it alike)."""
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(model)


def insert_ignore(s: Session, model: type[Any], values: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows were new."""
    if not values:
        return 0
    result = s.execute(dialect_insert(s, model).values(values).on_conflict_do_nothing())
    return int(getattr(result, "rowcount", 0) or 0)
