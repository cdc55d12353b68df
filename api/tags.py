"""Tags in use."""

from __future__ import annotations

from typing import Any

from db import articles
from db.session import session


def list_tags() -> dict[str, Any]:
    return {"tags": articles.tags_in_use(session())}
