"""Conditional requests: strong ETags on reads, 304 for a current copy, 412 for a stale write."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from tests.helpers import Account, Api, assert_problem, authorization

# a strong entity tag: quoted, no W/ prefix (RFC 9110 section 8.8.3)
STRONG = re.compile(r'"[\x21\x23-\x7e]+"')


@pytest.fixture
def jake(api: Api) -> Account:
    return api.register("jake")


@pytest.fixture
def slug(api: Api, jake: Account) -> str:
    article = api.article(jake, title="How to train your dragon", tagList=["dragons"])
    api.comment(jake, article["slug"], "First!")
    return str(article["slug"])


def _reads(slug: str) -> list[str]:
    return [
        f"/api/articles/{slug}",
        "/api/profiles/jake",
        f"/api/articles/{slug}/comments",
        "/api/tags",
        "/api/user",
    ]


def _vary(response: Any) -> list[str]:
    return [v.strip() for v in response.headers.get("Vary", "").split(",")]


def _tagged(response: Any) -> str:
    assert response.status_code == 200, response.text
    tag: str = response.headers["ETag"]
    assert STRONG.fullmatch(tag), tag
    return tag


def test_each_read_has_a_strong_etag_and_answers_304_with_no_body_to_a_current_copy(
    client: Any, jake: Account, slug: str
) -> None:
    for path in _reads(slug):
        tag = _tagged(client.get(path, headers=jake.headers))
        again = client.get(path, headers={**jake.headers, "If-None-Match": tag})
        assert again.status_code == 304, path
        assert again.content == b"", path
        assert again.headers["ETag"] == tag, path
        # the same answer, asked again, has the same tag
        assert _tagged(client.get(path, headers=jake.headers)) == tag, path


def test_if_none_match_compares_weakly_and_takes_a_list_and_a_star(
    client: Any, jake: Account, slug: str
) -> None:
    path = f"/api/articles/{slug}"
    tag = _tagged(client.get(path))
    for sent in (f"W/{tag}", f'"other", {tag}', "*"):
        assert client.get(path, headers={"If-None-Match": sent}).status_code == 304, sent
    for sent in ('"other"', tag[:-2] + '"', "not a tag"):
        assert client.get(path, headers={"If-None-Match": sent}).status_code == 200, sent


def test_a_change_gives_a_new_etag_and_the_old_copy_is_answered_in_full(
    client: Any, jake: Account, slug: str
) -> None:
    path = f"/api/articles/{slug}"
    old = _tagged(client.get(path, headers=jake.headers))
    changed = client.put(
        path, json={"article": {"description": "Ever wonder how?"}}, headers=jake.headers
    )
    assert changed.status_code == 200
    fresh = client.get(path, headers={**jake.headers, "If-None-Match": old})
    assert fresh.status_code == 200
    assert fresh.json()["article"]["description"] == "Ever wonder how?"
    assert _tagged(fresh) != old


def test_the_tag_is_a_digest_of_exactly_the_bytes_sent(client: Any, slug: str) -> None:
    """Strong means byte for byte: the same bytes always give the same tag, and these do."""
    first, second = client.get("/api/tags"), client.get(f"/api/articles/{slug}")
    assert first.content != second.content
    assert _tagged(first) != _tagged(second)
    digests = {hashlib.sha256(r.content).hexdigest() for r in (first, client.get("/api/tags"))}
    assert len(digests) == 1
    assert _tagged(client.get("/api/tags")) == _tagged(first)


def test_answers_that_depend_on_the_caller_vary_on_authorization_and_are_private(
    api: Api, client: Any, jake: Account, slug: str
) -> None:
    reader = api.register("reader")
    api.favorite(reader, slug)
    api.follow(reader, jake)
    for path in _reads(slug)[:3]:
        anonymous = client.get(path)
        signed_in = client.get(path, headers=reader.headers)
        for r in (anonymous, signed_in):
            assert "Authorization" in _vary(r), path
        assert anonymous.headers["Cache-Control"] == "no-cache", path
        assert signed_in.headers["Cache-Control"] == "private, no-cache", path
        # the reader follows jake and favourited the article: another answer, another tag
        assert _tagged(anonymous) != _tagged(signed_in), path
        # and one caller's tag is not a current copy for another
        other = client.get(path, headers={"If-None-Match": _tagged(signed_in)})
        assert other.status_code == 200, path
    tags = client.get("/api/tags")
    assert tags.headers["Cache-Control"] == "no-cache"
    assert "Authorization" not in _vary(tags)


def test_the_current_user_carries_the_token_it_was_asked_with_and_is_never_stored(
    client: Any, jake: Account
) -> None:
    r = client.get("/api/user", headers=jake.headers)
    assert r.json()["user"]["token"] == jake.token
    assert r.headers["Cache-Control"] == "no-store"
    assert "Authorization" in _vary(r)


# --- If-Match: writes based on what is no longer current are refused ------------------------


def test_two_editors_cannot_overwrite_each_other(client: Any, jake: Account, slug: str) -> None:
    path = f"/api/articles/{slug}"
    seen_by_one = _tagged(client.get(path, headers=jake.headers))
    seen_by_two = _tagged(client.get(path, headers=jake.headers))
    first = client.put(
        path,
        json={"article": {"body": "One's version"}},
        headers={**jake.headers, "If-Match": seen_by_one},
    )
    assert first.status_code == 200, first.text
    second = client.put(
        path,
        json={"article": {"body": "Two's version"}},
        headers={**jake.headers, "If-Match": seen_by_two},
    )
    assert_problem(second, 412, "If-Match")
    assert client.get(path).json()["article"]["body"] == "One's version"
    # read again, and the write goes through
    current = _tagged(client.get(path, headers=jake.headers))
    retried = client.put(
        path,
        json={"article": {"body": "Two's version"}},
        headers={**jake.headers, "If-Match": current},
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["article"]["body"] == "Two's version"


def test_if_match_compares_strongly_and_takes_a_star(client: Any, jake: Account, slug: str) -> None:
    path = f"/api/articles/{slug}"
    tag = _tagged(client.get(path, headers=jake.headers))
    weak = client.put(
        path, json={"article": {"body": "x"}}, headers={**jake.headers, "If-Match": f"W/{tag}"}
    )
    assert_problem(weak, 412, "If-Match")
    star = client.put(
        path, json={"article": {"body": "y"}}, headers={**jake.headers, "If-Match": "*"}
    )
    assert star.status_code == 200, star.text
    listed = client.put(
        path,
        json={"article": {"body": "z"}},
        headers={
            **jake.headers,
            "If-Match": f'"other", {_tagged(client.get(path, headers=jake.headers))}',
        },
    )
    assert listed.status_code == 200, listed.text


def test_without_if_match_writes_go_ahead_as_before(client: Any, jake: Account, slug: str) -> None:
    path = f"/api/articles/{slug}"
    for body in ("first", "second"):
        r = client.put(path, json={"article": {"body": body}}, headers=jake.headers)
        assert r.status_code == 200
    assert client.delete(path, headers=jake.headers).status_code == 204


def test_a_stale_delete_is_refused_and_deletes_nothing(
    client: Any, jake: Account, slug: str
) -> None:
    path = f"/api/articles/{slug}"
    stale = _tagged(client.get(path, headers=jake.headers))
    client.put(path, json={"article": {"body": "Changed"}}, headers=jake.headers)
    assert_problem(client.delete(path, headers={**jake.headers, "If-Match": stale}), 412)
    assert client.get(path).status_code == 200
    current = _tagged(client.get(path, headers=jake.headers))
    assert client.delete(path, headers={**jake.headers, "If-Match": current}).status_code == 204
    assert client.get(path).status_code == 404


def test_a_stale_update_of_the_current_user_is_refused_and_changes_nothing(
    client: Any, jake: Account
) -> None:
    stale = _tagged(client.get("/api/user", headers=jake.headers))
    client.put("/api/user", json={"user": {"bio": "I work at statefarm"}}, headers=jake.headers)
    refused = client.put(
        "/api/user",
        json={"user": {"bio": "I like to skateboard"}},
        headers={**jake.headers, "If-Match": stale},
    )
    assert_problem(refused, 412, "If-Match")
    assert client.get("/api/user", headers=jake.headers).json()["user"]["bio"] == (
        "I work at statefarm"
    )
    current = _tagged(client.get("/api/user", headers=jake.headers))
    accepted = client.put(
        "/api/user",
        json={"user": {"bio": "I like to skateboard"}},
        headers={**jake.headers, "If-Match": current},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.headers["Cache-Control"] == "no-store"
    assert accepted.json()["user"]["token"] == jake.token


def test_preconditions_come_after_the_access_checks(
    api: Api, client: Any, jake: Account, slug: str
) -> None:
    """A stranger learns nothing from a precondition: they are refused as before."""
    stranger = api.register("stranger")
    path = f"/api/articles/{slug}"
    for method in ("put", "delete"):
        r = getattr(client, method)(
            path,
            **({"json": {"article": {"body": "x"}}} if method == "put" else {}),
            headers={**stranger.headers, "If-Match": '"stale"'},
        )
        assert_problem(r, 403)
    missing = client.put(
        "/api/articles/no-such-article",
        json={"article": {"body": "x"}},
        headers={**jake.headers, "If-Match": '"stale"'},
    )
    assert_problem(missing, 404)
    anonymous = client.put(path, json={"article": {"body": "x"}}, headers={"If-Match": "*"})
    assert_problem(anonymous, 401)


def test_an_oversized_condition_is_a_422(client: Any, jake: Account) -> None:
    huge = '"' + "a" * 3000 + '"'
    r = client.get("/api/user", headers={**jake.headers, "If-None-Match": huge})
    assert_problem(r, 422)
    r = client.put(
        "/api/user",
        json={"user": {"bio": "x"}},
        headers={**authorization(jake.token), "If-Match": huge},
    )
    assert_problem(r, 422)
