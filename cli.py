"""Command line: `python -m cli run | migrate | seed | admin | purge-idempotency-keys`."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from db import idempotency, migrate, users
from db.errors import DomainError
from db.models import ROLES, utcnow
from db.session import make_engine
from settings import ConfigError, Settings


def _migrate(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    with engine.begin() as connection:
        migrate.upgrade(connection)
    engine.dispose()
    print(f"database ready: {make_url(settings.database_url).render_as_string()}")


def run(settings: Settings) -> None:
    from app import create_app

    _migrate(settings)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8080"))
    print(f"Swagger UI: http://{host}:{port}/api/ui/  (spec: /api/openapi.json)", flush=True)
    # the app writes its own access line (shell/observability.py), and X-Forwarded-For is the
    # app's to read, from TRUSTED_PROXIES only (app.py)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        proxy_headers=False,
    )


def seed(settings: Settings, argv: list[str]) -> None:
    from db.seed import main as seed_main

    seed_main(settings, argv)


def admin(settings: Settings, argv: list[str]) -> int:
    """Give an existing user a role: how the first admin comes to be."""
    parser = argparse.ArgumentParser(prog="python -m cli admin")
    parser.add_argument("login", metavar="EMAIL_OR_USERNAME")
    parser.add_argument("--role", choices=ROLES, default="admin")
    args = parser.parse_args(argv)
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as s, s.begin():
            user = users.by_login(s, args.login)
            if user is None:
                print(f"no user has the email or username {args.login!r}", file=sys.stderr)
                return 1
            users.set_role(s, user, args.role, by=None)
            print(f"{user.username} is now {user.role}")
    except DomainError as e:
        print(f"refused: {e.detail}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def purge_idempotency_keys(settings: Settings) -> None:
    """Delete every expired idempotency key. Requests purge them too, a batch at a time, so
    this is for a database that has had few keyed requests lately, or none (a cron job)."""
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as s, s.begin():
            purged = idempotency.purge(s, now=utcnow())
    finally:
        engine.dispose()
    print(f"purged {purged} expired idempotency key(s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli")
    parser.add_argument(
        "command", choices=["run", "migrate", "seed", "admin", "purge-idempotency-keys"]
    )
    args, rest = parser.parse_known_args(argv)
    try:
        # only the server signs and checks tokens: the other commands need no SECRET_KEY
        settings = Settings.from_env(signs=args.command == "run")
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    if args.command == "run":
        run(settings)
    elif args.command == "migrate":
        _migrate(settings)
    elif args.command == "admin":
        return admin(settings, rest)
    elif args.command == "purge-idempotency-keys":
        purge_idempotency_keys(settings)
    else:
        seed(settings, rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
