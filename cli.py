"""Command line: `python -m cli run | migrate | seed`."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn
from sqlalchemy.engine import make_url

from db import migrate
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
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def seed(settings: Settings, argv: list[str]) -> None:
    from db.seed import main as seed_main

    seed_main(settings, argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli")
    parser.add_argument("command", choices=["run", "migrate", "seed"])
    args, rest = parser.parse_known_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    if args.command == "run":
        run(settings)
    elif args.command == "migrate":
        _migrate(settings)
    else:
        seed(settings, rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
