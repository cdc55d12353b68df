"""Clean input (issue 10, item 2): no control characters, no invisible-only text, one spelling
of each word. The rules are in the spec's description (**Text**) and its patterns; the findings
this started from are the first cases."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml

from shell.validation import FORMATS
from tests.helpers import Account, Api, assert_problem

ROOT = Path(__file__).parent.parent

ZERO_WIDTH_ONLY = "\u200b\u2060\ufeff"  # zero-width space, word joiner, BOM
RESUME_NFC = "r\u00e9sum\u00e9"
RESUME_NFD = unicodedata.normalize("NFD", RESUME_NFC)


def _create(api: Api, author: Account, **fields: Any) -> Any:
    article = {"title": "A title", "description": "d", "body": "b", **fields}
    return api.client.post("/api/articles", json={"article": article}, headers=author.headers)


def _refused(response: Any, field: str, message: str) -> None:
    body = assert_problem(response, 422, field)
    assert body["errors"][field] == [message], body


@pytest.mark.parametrize("tag", ["\u0005sneaky", "\bback", "tab\there", "nul\x00", "c1\x85"])
def test_a_tag_with_a_control_character_is_refused(api: Api, tag: str) -> None:
    jake = api.register()
    _refused(_create(api, jake, tagList=[tag]), "tagList", "can't contain control characters")
    assert tag not in api.client.get("/api/tags").json()["tags"]


@pytest.mark.parametrize(
    "tag",
    [ZERO_WIDTH_ONLY, "\u00ad", "\u200e\u200f", " \u3000\u200b", "\U000e0020\U000e0041"],
    ids=["zero-width", "soft-hyphen", "direction-marks", "spaces-and-zwsp", "astral-tag-chars"],
)
def test_a_tag_of_only_invisible_characters_is_blank(api: Api, tag: str) -> None:
    jake = api.register()
    _refused(_create(api, jake, tagList=[tag]), "tagList", "can't be blank")
    assert api.client.get("/api/tags").json()["tags"] == []


@pytest.mark.parametrize("field", ["title", "description"])
@pytest.mark.parametrize("text", ["\u0001start", "back\bspace", "del\x7f", "c1\x9b[31m"])
def test_single_line_fields_refuse_control_characters(api: Api, field: str, text: str) -> None:
    jake = api.register()
    _refused(_create(api, jake, **{field: text}), field, "can't contain control characters")


@pytest.mark.parametrize("text", ["two\nlines", "two\r\nlines", "two\u2028lines"])
def test_single_line_fields_refuse_line_breaks(api: Api, text: str) -> None:
    jake = api.register()
    _refused(_create(api, jake, title=text), "title", "must be a single line")
    _refused(_create(api, jake, tagList=[text]), "tagList", "must be a single line")


@pytest.mark.parametrize("field", ["title", "description", "body"])
def test_text_of_only_invisible_characters_is_blank(api: Api, field: str) -> None:
    jake = api.register()
    _refused(_create(api, jake, **{field: f" {ZERO_WIDTH_ONLY} "}), field, "can't be blank")
    slug = api.article(jake)["slug"]
    r = api.client.put(
        f"/api/articles/{slug}",
        json={"article": {field: ZERO_WIDTH_ONLY}},
        headers=jake.headers,
    )
    _refused(r, field, "can't be blank")


def test_descriptions_bodies_and_comments_keep_newlines_and_tabs(api: Api) -> None:
    """A description is a summary paragraph: the peers' own benchmark data sends it in several."""
    jake = api.register()
    text = "First line\n\tindented\r\nlast\u2028line"
    article = api.article(jake, description=text, body=text)
    assert article["description"] == article["body"] == text
    assert api.comment(jake, article["slug"], body=text)["body"] == text


@pytest.mark.parametrize("text", ["bell\x07", "vertical\x0btab", "form\x0cfeed", "nel\x85"])
def test_bodies_and_comments_refuse_other_control_characters(api: Api, text: str) -> None:
    jake = api.register()
    _refused(_create(api, jake, body=text), "body", "can't contain control characters")
    slug = api.article(jake)["slug"]
    r = api.client.post(
        f"/api/articles/{slug}/comments", json={"comment": {"body": text}}, headers=jake.headers
    )
    _refused(r, "body", "can't contain control characters")
    r = api.client.post(
        f"/api/articles/{slug}/comments",
        json={"comment": {"body": ZERO_WIDTH_ONLY}},
        headers=jake.headers,
    )
    _refused(r, "body", "can't be blank")


def test_a_bio_keeps_newlines_may_be_empty_and_refuses_control_characters(api: Api) -> None:
    jake = api.register()

    def update(bio: str) -> Any:
        return api.client.put("/api/user", json={"user": {"bio": bio}}, headers=jake.headers)

    assert update("Line one\n\tLine two").json()["user"]["bio"] == "Line one\n\tLine two"
    assert update("").status_code == 200
    _refused(update("ring\x07"), "bio", "can't contain control characters")


def test_an_email_with_a_control_character_is_refused(api: Api) -> None:
    user = {"username": "jake", "email": "ja\x01ke@example.com", "password": "password1"}
    body = assert_problem(api.client.post("/api/users", json={"user": user}), 422, "email")
    assert "can't contain control characters" in body["errors"]["email"]


def test_nfc_and_nfd_spellings_of_one_tag_are_one_tag(api: Api) -> None:
    jake = api.register()
    first = _create(api, jake, title="Composed", tagList=[RESUME_NFC])
    second = _create(api, jake, title="Decomposed", tagList=[RESUME_NFD])
    assert second.json()["article"]["tagList"] == [RESUME_NFC]
    assert first.json()["article"]["tagList"] == [RESUME_NFC]
    assert api.client.get("/api/tags").json()["tags"] == [RESUME_NFC]
    for spelling in (RESUME_NFC, RESUME_NFD):
        listed = api.client.get("/api/articles", params={"tag": spelling}).json()
        assert listed["articlesCount"] == 2


def test_text_is_stored_and_returned_nfc(api: Api) -> None:
    jake = api.register()
    fields = {"title": f"My {RESUME_NFD}", "description": RESUME_NFD, "body": RESUME_NFD}
    article = _create(api, jake, **fields).json()["article"]
    assert article["title"] == f"My {RESUME_NFC}"
    assert article["description"] == article["body"] == RESUME_NFC
    again = api.client.get(f"/api/articles/{article['slug']}").json()["article"]
    assert (again["title"], again["body"]) == (f"My {RESUME_NFC}", RESUME_NFC)
    comment = api.comment(jake, article["slug"], body=RESUME_NFD)
    assert comment["body"] == RESUME_NFC


def test_nfc_is_applied_before_the_length_limit(api: Api) -> None:
    """U+0958 is one character that NFC writes as two: a 32-character tag of it is 64 long as
    stored, and refused as too long rather than failing in a 32-character column."""
    jake = api.register()
    r = _create(api, jake, tagList=["\u0958" * 32])
    _refused(r, "tagList", "is too long (maximum is 32 characters)")


def test_passwords_are_hashed_as_typed_so_decomposed_ones_keep_working(api: Api) -> None:
    password = f"{RESUME_NFD}-secret"
    jake = api.register(password=password)
    body = {"user": {"email": jake.email, "password": password}}
    assert api.client.post("/api/users/login", json=body).status_code == 200


SAMPLES = [
    "Résumé",
    "a\u200bb",
    "\u200bx",
    "\u200b",
    " \u00a0",
    "x\ty",
    "a\nb",
    "a\u2028b",
    "bell\x07",
    "nel\x85",
    "\u202eevil",
    "🏴\U000e0067\U000e0062\U000e007f",
    "\U000e0020",
]


@pytest.mark.parametrize("text", SAMPLES)
@pytest.mark.parametrize(
    ("schema", "kind"), [("TagName", "visible-line"), ("NewComment", "visible-text")]
)
def test_the_spec_pattern_says_what_the_server_checks(text: str, schema: str, kind: str) -> None:
    """The pattern a client reads and the rule the server applies (the format) agree, except
    on format characters beyond the Basic Multilingual Plane, which only the server knows:
    there the pattern lets through what the server may still refuse, never the reverse."""
    declared = yaml.safe_load((ROOT / "openapi" / "api.yaml").read_text())["components"]
    node = declared["schemas"][schema]
    node = node["properties"]["body"] if schema == "NewComment" else node
    assert node["format"] == kind
    by_pattern = bool(re.search(node["pattern"], text))
    by_server = FORMATS.conforms(text, kind)
    if all(ord(c) < 0x10000 for c in text):
        assert by_pattern is by_server
    else:
        assert by_pattern or not by_server


def test_a_decomposed_body_with_an_unknown_huge_integer_is_still_taken(api: Api) -> None:
    """Found by schemathesis: the body is written out again once normalised, and must be
    whatever JSON it was."""
    jake = api.register()
    huge = 25243523873371812003840  # an unknown field: ignored, as every unknown field is
    raw = '{"article": {"title": "%s", "description": "d", "body": "b", "x": %d}}'
    r = api.client.post(
        "/api/articles",
        content=(raw % (RESUME_NFD, huge)).encode(),
        headers={**jake.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["article"]["title"] == RESUME_NFC
