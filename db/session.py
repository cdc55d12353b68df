"""Engines and sessions, each opened for what it will do: read, or write."""

from __future__ import annotations

import select
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

# Without a size, as many connections as Connexion's default handler threads; the app asks for
# one per handler thread (settings.threads), since a smaller pool would close and reopen
# connections under load, losing PostgreSQL's session set-up and SQLite's page cache
POOL_SIZE = 10
WRITE_OPTION = "conduit_writes"
# a server that does not answer at all (its host gone, packets dropped) holds a request up this
# long, not for the system's TCP timeout of two minutes; DATABASE_URL may set its own
CONNECT_TIMEOUT_SECONDS = 5
# PostgreSQL's SQLSTATEs for "this server will not serve you now": connection exceptions (class
# 08), shutting down or starting up (57P01 to 57P03), and no connection slot left (53300)
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def make_engine(url: str, *, echo: bool = False, pool_size: int = POOL_SIZE) -> Engine:
    """An engine with the same transactional behaviour on SQLite and PostgreSQL."""
    parsed = make_url(url)
    pool = {"pool_size": pool_size, "max_overflow": pool_size}
    if parsed.get_backend_name() != "sqlite":
        # no pre-ping: it is a round trip on every checkout (see `_postgres_outages`)
        timeout = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        if "connect_timeout" in parsed.query:
            timeout = {}
        engine = create_engine(url, echo=echo, **pool, connect_args=timeout)
        _postgres_outages(engine)
        return engine
    engine = create_engine(
        url,
        echo=echo,
        **pool,
        # requests run in worker threads; SQLAlchemy's pool hands a connection to one at a time
        connect_args={"check_same_thread": False, "timeout": 15},
    )
    _sqlite_recipe(engine)
    return engine


def _postgres_outages(engine: Engine) -> None:
    """A server that is down, restarting or full is an outage (db.errors.unreachable), and a
    pooled connection it closed is replaced before a request gets it."""

    @event.listens_for(engine, "handle_error")
    def _unreachable(ctx: ExceptionContext) -> None:
        # SQLAlchemy counts a statement on a broken connection as a disconnect, but not a
        # connection refused or a server starting up: psycopg says so by its SQLSTATE, none for
        # a failure on the client's side (refused, reset) and one of the above from the server
        error = ctx.original_exception
        state = getattr(error, "sqlstate", "")
        if isinstance(error, ctx.dialect.loaded_dbapi.OperationalError) and (
            state is None or str(state).startswith(_UNREACHABLE_STATES)
        ):
            ctx.is_disconnect = True

    # Registered before any other checkout listener (the pool-in-use gauge), which then runs
    # once per checkout: the pool calls them all again for the connection that replaces one.
    @event.listens_for(engine, "checkout")
    def _alive(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # An idle connection has nothing to read: a readable socket is the server's goodbye (a
        # restart, a terminated session) and the request would fail on it. One poll, no round
        # trip as pool_pre_ping's; SQLAlchemy then opens a new connection in its place. Each
        # one is asked as it is checked out, so none is dropped while it still works.
        try:
            poller = select.poll()
            poller.register(dbapi_connection.fileno(), select.POLLIN)
            readable = bool(poller.poll(0))
        except engine.dialect.loaded_dbapi.Error:  # closed already: no socket to ask
            readable = True
        if readable:
            raise DisconnectionError("closed by the server while idle")


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
