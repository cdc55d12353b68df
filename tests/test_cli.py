"""`python -m cli`: the first admin, and which commands ask for a SECRET_KEY."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from cli import main
from db.models import AuditEntry, User
from db.session import make_engine
from tests.conftest import migrated_engine
from tests.helpers import SECRET


@pytest.fixture
def database(fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with migrated_engine(fresh_database) as engine, engine.begin() as conn:
        for name in ("jake", "anna"):
            conn.execute(
                insert(User).values(username=name, email=f"{name}@example.com", password_hash="x")
            )
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("CONDUIT_ENV", "production")
    return fresh_database


def _users(url: str) -> dict[str, tuple[str, int]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(User.username, User.role, User.token_generation)).all()
    engine.dispose()
    return {r.username: (r.role, r.token_generation) for r in rows}


def test_promote_by_email_or_username(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "jake@example.com"]) == 0
    assert "jake is now admin" in capsys.readouterr().out
    assert main(["admin", "anna", "--role", "moderator"]) == 0
    assert _users(database) == {"jake": ("admin", 1), "anna": ("moderator", 1)}
    engine = make_engine(database)
    with engine.connect() as conn:
        actors = conn.execute(select(AuditEntry.actor_id, AuditEntry.action)).all()
    engine.dispose()
    assert [tuple(a) for a in actors] == [(None, "user.role"), (None, "user.role")]


def test_an_unknown_user_is_an_error(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "ghost"]) == 1
    assert "no user" in capsys.readouterr().err


def test_the_last_admin_is_kept(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "jake"]) == 0
    assert main(["admin", "jake", "--role", "user"]) == 1
    assert "last remaining admin" in capsys.readouterr().err
    assert _users(database)["jake"] == ("admin", 1)


def test_a_bad_role_is_refused(database: str) -> None:
    with pytest.raises(SystemExit):
        main(["admin", "jake", "--role", "root"])


def test_make_admin_needs_a_login(tmp_path: Path) -> None:
    """The Makefile target refuses to run without LOGIN rather than promote someone else."""
    root = Path(__file__).parent.parent
    command = [shutil.which("make") or "make", "-s", "admin", f"VENV={root / '.venv'}"]
    r = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode != 0
    assert "usage: make admin LOGIN=" in r.stdout + r.stderr
    del tmp_path


@pytest.mark.parametrize(
    "argv", [["migrate"], ["seed", "--users", "2", "--articles", "3"], ["purge-idempotency-keys"]]
)
def test_commands_that_sign_no_token_need_no_secret(
    fresh_database: str, argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A fresh clone migrates and seeds with no SECRET_KEY set, in production mode too."""
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("CONDUIT_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    assert main(["migrate"]) == 0
    workdir = tmp_path / "clone"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # where a development secret would be written: none is
    assert main(argv) == 0
    assert not list(workdir.iterdir())


def test_serving_still_needs_a_secret_outside_development(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SECRET_KEY")
    assert main(["run"]) == 2
    assert "SECRET_KEY is required" in capsys.readouterr().err


def test_giving_a_role_needs_no_secret(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY")
    assert main(["admin", "jake"]) == 0
    assert _users(database)["jake"][0] == "admin"
