"""The OAuth2 token endpoint (password grant, RFC 6749 section 4.3)."""

from __future__ import annotations

from typing import Any

from db import users
from shell.request import SCOPES, OAuthError, granted, login_failures, passwords, session, tokens


def issue_token(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    s = session()
    requested = body.get("scope", "").split()
    unknown = sorted(set(requested) - SCOPES)
    if unknown:
        raise OAuthError("invalid_scope", f"Unknown scope: {', '.join(unknown)}.")
    failures = login_failures(body["username"])  # 429 before guessing
    user = users.by_login(s, body["username"])
    # verified even for an unknown account, so that both answers look and take the same
    ok = passwords().verify(user.password_hash if user else None, body["password"])
    if user is None or not ok:
        failures.count()
        raise OAuthError("invalid_grant", "Wrong username or password.")
    if user.status != "active":
        raise OAuthError("invalid_grant", users.account_suspended().detail)
    narrowed = " ".join(sorted(set(requested))) if requested else None
    token = tokens().issue(user.id, user.token_generation, narrowed)
    reply = {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": tokens().ttl_seconds,
        "scope": " ".join(sorted(granted(user.role, narrowed))),
        "role": user.role,
    }
    return reply, 200, {"Cache-Control": "no-store"}
