"""Engines and sessions, each opened for what it will do: read, or write."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Without a size, as many connections as Connexion's default handler threads; the app asks for
# one per handler thread (settings.threads), since a smaller pool would close and reopen
# connections under load, losing PostgreSQL's session set-up and SQLite's page cache
POOL_SIZE = 10
WRITE_OPTION = "conduit_writes"


def make_engine(url: str, *, echo: bool = False, pool_size: int = POOL_SIZE) -> Engine:
    """An engine with the same transactional behaviour on SQLite and PostgreSQL."""
    parsed = make_url(url)
    pool = {"pool_size": pool_size, "max_overflow": pool_size}
    if parsed.get_backend_name() != "sqlite":
        # no pre-ping: it is a round trip on every checkout. A connection that died is found by
        # the statement that uses it, and SQLAlchemy then discards the whole pool
        return create_engine(url, echo=echo, **pool)
    engine = create_engine(
        url,
        echo=echo,
        **pool,
        # requests run in worker threads; SQLAlchemy's pool hands a connection to one at a time
        connect_args={"check_same_thread": False, "timeout": 15},
    )
    _sqlite_recipe(engine)
    return engine


def _sqlite_recipe(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; this is SQLAlchemy's documented fix
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # a write takes the lock up front: a deferred transaction that reads and then writes
        # fails at once ("database is locked") when another writer committed in between
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_sessionmaker(bind: Any, **options: Any) -> sessionmaker[Session]:
    return sessionmaker(bind=bind, expire_on_commit=False, **options)


def open_session(maker: sessionmaker[Session], *, writes: bool) -> Session:
    """A session whose connection is set up for its work: one that may write takes SQLite's
    write lock up front, one that only reads runs on PostgreSQL without a transaction."""
    s = maker()
    s.info[WRITE_OPTION] = writes
    s.connection(execution_options=_options(writes, s.get_bind()))
    return s


def begin_again(s: Session) -> None:
    """After a commit or a rollback, set the session's next transaction up as `open_session`
    set up its first: without this it would start as a plain one (a deferred BEGIN on SQLite,
    which fails at once when a write meets another writer's commit)."""
    s.connection(execution_options=_options(s.info[WRITE_OPTION], s.get_bind()))


def _options(writes: bool, bind: Engine | Connection) -> dict[str, Any]:
    if writes:
        return {WRITE_OPTION: True}
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        # a read runs each statement on its own: no BEGIN and ROLLBACK round trips. Every
        # statement still sees one consistent snapshot; SQLite's BEGIN costs no round trip
        return {"isolation_level": "AUTOCOMMIT"}
    return {}
