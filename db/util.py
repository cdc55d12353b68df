"""Small helpers shared by the query modules."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(s: Session, model: type[Any], values: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows were new."""
    if not values:
        return 0
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = s.execute(insert(model).values(values).on_conflict_do_nothing())
    return int(getattr(result, "rowcount", 0) or 0)
