"""Tags in use."""

from __future__ import annotations

from typing import Any

from api.context import session
from db import articles


def list_tags() -> dict[str, Any]:
    return {"tags": articles.tags_in_use(session())}
