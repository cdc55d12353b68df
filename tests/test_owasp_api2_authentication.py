"""OWASP API2:2023 broken authentication: the cases tests/test_auth.py does not already hold
(alg=none, another HMAC, wrong key, expired, nbf, iss/aud, missing claims, a deleted user are
there; a suspended user in tests/test_authorization.py).

Here: a token whose header names an asymmetric algorithm (the HS/RS confusion), a tampered
payload or header under the original signature, and login answers and timings that are the
same for an unknown email as for a wrong password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import statistics
import time
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Connection

from app import create_app
from settings import Settings
from tests.helpers import SECRET, Api, assert_problem, authorization, claims, subject


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(header: dict[str, Any], payload: dict[str, Any], key: bytes = SECRET.encode()) -> str:
    """A JWS made by hand: `header` says whatever the case needs, HMAC-SHA256 signs it."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _refused(api: Api, forged: str) -> None:
    for scheme in ("Token", "Bearer"):
        r = api.client.get("/api/user", headers=authorization(forged, scheme))
        assert_problem(r, 401, "token")
        assert r.headers.get("WWW-Authenticate")


def test_api2_the_hand_made_control_token_is_accepted(api: Api) -> None:
    """The control for the refusals below: the same construction with the real header works."""
    jake = api.register()
    good = _signed({"alg": "HS256", "typ": "JWT"}, claims(subject(jake)))
    assert api.client.get("/api/user", headers=authorization(good)).status_code == 200


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA", "HS256 ", "hs256"])
def test_api2_an_algorithm_other_than_hs256_is_401_even_signed_with_the_secret(
    api: Api, alg: str
) -> None:
    """HS/RS confusion: a verifier that trusts the header's `alg` may check an RS256 token's
    signature with the HMAC secret (or a public key as one); only HS256 is ever accepted."""
    jake = api.register()
    _refused(api, _signed({"alg": alg, "typ": "JWT"}, claims(subject(jake))))


def test_api2_a_tampered_payload_under_the_original_signature_is_401(api: Api) -> None:
    jake, other = api.register(), api.register()
    header, _payload, signature = jake.token.split(".")
    stolen = claims(subject(other))  # the other user's id, under jake's signature
    forged = f"{header}.{_b64(json.dumps(stolen).encode())}.{signature}"
    _refused(api, forged)


def test_api2_a_tampered_header_under_the_original_signature_is_401(api: Api) -> None:
    jake = api.register()
    _header, payload, signature = jake.token.split(".")
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "../../dev/null"}).encode())
    _refused(api, f"{header}.{payload}.{signature}")


def test_api2_a_token_with_its_signature_cut_off_is_401(api: Api) -> None:
    jake = api.register()
    header, payload, _signature = jake.token.split(".")
    _refused(api, f"{header}.{payload}.")
    _refused(api, f"{header}.{payload}")


def test_api2_login_answers_an_unknown_email_as_a_wrong_password_and_as_slowly(
    settings: Settings, connection: Connection
) -> None:
    """No enumeration by answer or by time: with the production password hashing, the median
    time of each, interleaved, is within 10 % of the other.

    The time measured is the CPU time the service spends on each answer (the test client runs it
    in this process, argon2's threads included). The wall clock of one argon2 check on a shared
    2-core machine swings by more than 10 % with what its neighbours do (CI saw 0.86 from noise
    alone); the CPU time is what an attacker's wall-clock samples average out to, and a path that
    skipped the hash would spend a hundredth of it."""
    production = Settings()
    deployed = replace(
        settings,
        argon2_time_cost=production.argon2_time_cost,
        argon2_memory_kib=production.argon2_memory_kib,
        argon2_parallelism=production.argon2_parallelism,
        rate_limit_login_failures="1000/minute",
    )
    app = create_app(deployed, bind=connection)
    with app.test_client() as client:
        api = Api(client)
        known = api.register()

        def attempt(email: str) -> tuple[float, int, dict[str, Any]]:
            body = {"user": {"email": email, "password": "not-the-password"}}
            started = time.process_time()
            r = client.post("/api/users/login", json=body)
            return time.process_time() - started, r.status_code, r.json()

        attempt(known.email)  # warm both paths before measuring
        attempt("nobody@example.com")
        wrong, unknown = [], []
        for n in range(25):
            seconds, status, body = attempt(known.email)
            wrong.append(seconds)
            answer = (status, body["errors"], body["detail"])
            seconds, status, body = attempt(f"nobody{n}@example.com")
            unknown.append(seconds)
            assert (status, body["errors"], body["detail"]) == answer
    assert answer[0] == 401
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.9 <= ratio <= 1.1, (ratio, statistics.median(wrong), statistics.median(unknown))
