"""Alembic environment: migrates the connection it is given, or $DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, text

from db.migrate import LOCK_KEY, include_name
from db.models import Base
from db.session import make_engine
from settings import DEFAULT_DATABASE_URL

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Every app process migrates at start-up (`make serve`, the image's command), so
            # several may migrate one new database at once: each would see no schema, create
            # it, and all but the first fail on PostgreSQL's catalog. The lock is held until
            # this transaction commits, so the others wait, then find the schema at head. (A
            # SQLite file belongs to one host, migrated by the command that serves it.)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run(given)
else:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "DATABASE_URL", DEFAULT_DATABASE_URL
    )
    engine = make_engine(url)
    with engine.connect() as connection:
        run(connection)
    engine.dispose()
