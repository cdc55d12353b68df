"""Swagger UI in a real browser: it shows the whole spec under the page's Content-Security-Policy,
reaches nothing but the service, and its *Try it out* and OAuth2 *Authorize* work against the
live server, reads and writes alike, with every field left as Swagger UI fills it in; the
conditional and idempotent headers still work when typed in by hand.

Debian's Chromium, driven headless by Playwright; nothing downloads a browser. The journey runs
once, on SQLite: nothing in it differs between the databases, which the rest of the suite covers.
Screenshots of each step go to test-results/swagger-ui/.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

ROOT = Path(__file__).parent.parent
CHROMIUM = "/usr/bin/chromium"
SPEC = ROOT / "openapi" / "api.yaml"
SHOTS = ROOT / "test-results" / "swagger-ui"

# Swagger UI leaves out its online validator badge (an image from validator.swagger.io that
# carries the spec's address away) when the page's address contains "localhost" or "127.0.0.1",
# so a test on 127.0.0.1 would never see it: the browser goes to a name of its own instead,
# which only it resolves, to the server on 127.0.0.1. Every other name and address fails to
# resolve, so nothing can leave even when something tries.
HOST = "conduit.test"
RESOLVER_RULES = f"MAP {HOST} 127.0.0.1, MAP * ~NOTFOUND"

# two busy cores render a spec of this size in a few seconds; thirty leaves room without hiding
# a hang
WAIT = 30_000

# records every policy violation, from before the page's own scripts run
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@functools.cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    return spec


def _spec_operations() -> set[tuple[str, str]]:
    """(tag, operationId) of every operation, once under each of its tags."""
    return {
        (tag, op["operationId"])
        for item in _spec()["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
        for tag in op["tags"]
    }


def _spec_tags() -> set[str]:
    return {tag["name"] for tag in _spec()["tags"]} | {tag for tag, _ in _spec_operations()}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[f"--host-resolver-rules={RESOLVER_RULES}"],
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT)
    yield context
    context.close()


def _shot(page: Page, name: str, part: Locator | None = None) -> None:
    """A PNG of the whole page, or of one part of it, for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = str(SHOTS / f"{name}.png")
    if part is None:
        page.screenshot(path=path, full_page=True)
    else:
        part.screenshot(path=path)


def _try_it_out(operation: Locator) -> None:
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()


def _execute(operation: Locator, status: int) -> Any:
    """Executes the operation, waits for the live response with `status`; its JSON body, or
    None when it has none. An earlier response is cleared first, so it cannot be mistaken for
    this one."""
    clear = operation.get_by_role("button", name="Clear")
    if clear.count():
        clear.click()
        expect(operation.locator(".live-responses-table")).to_have_count(0)
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table .response")
    expect(live.locator(".response-col_status")).to_have_text(str(status), timeout=WAIT)
    body = live.locator(".response-col_description .highlight-code pre")
    return json.loads(body.inner_text()) if body.count() else None


def _field(operation: Locator, parameter: str) -> Locator:
    """The input Try it out shows for the header, query or path parameter named so."""
    return operation.locator(f'tr[data-param-name="{parameter}"] input')


def _body(operation: Locator) -> Locator:
    return operation.locator("textarea.body-param__text")


def _response_headers(operation: Locator) -> dict[str, str]:
    """The headers of the live response, as Swagger UI lists them (names in lower case)."""
    lines = operation.locator(".live-responses-table .headerline").all_inner_texts()
    return dict(line.strip().split(": ", 1) for line in lines)


def _sent(page: Page, method: str, path: str) -> Any:
    """Waits for the request Swagger UI sends to `path`; `.value` is the request."""
    return page.expect_request(lambda r: r.method == method and urlsplit(r.url).path == path)


# the headers that change what a request does when they are sent at all
CONDITIONAL = ("if-match", "if-none-match", "idempotency-key")


def _untouched(operation: Locator, *parameters: str) -> None:
    """Try it out opened the operation with nothing filled in for these parameters."""
    for parameter in parameters:
        expect(_field(operation, parameter)).to_have_value("")


def _live(operation: Locator) -> Locator:
    """The request sent (as curl), its URL and the server's response."""
    return operation.locator(".responses-inner > div").first


@pytest.mark.parametrize("fresh_database", ["sqlite"], indirect=True)
def test_swagger_ui_registers_authorizes_reads_and_writes_with_nothing_leaving(
    server: str, context: BrowserContext
) -> None:
    origin = server.replace("127.0.0.1", HOST)
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.add_init_script(RECORD_VIOLATIONS)

    response = page.goto(f"{origin}/api/ui/")
    assert response is not None
    assert response.status == 200
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy

    # every tag, and every operation under each of its tags, with its operationId shown
    operations = _spec_operations()
    expect(page.locator(".opblock")).to_have_count(len(operations), timeout=WAIT)
    tags = page.locator("h3.opblock-tag").evaluate_all("hs => hs.map(h => h.dataset.tag)")
    assert sorted(tags) == sorted(_spec_tags())
    shown = page.locator(".opblock").evaluate_all(
        "ops => ops.map(o => [o.id, o.querySelector('.opblock-summary-operation-id')?.textContent])"
    )
    assert sorted(map(tuple, shown)) == sorted((f"operations-{t}-{op}", op) for t, op in operations)
    _shot(page, "1-rendered")

    # register a new user through Try it out
    name = f"ui{uuid.uuid4().hex[:12]}"
    password = f"pw-{uuid.uuid4().hex}"
    register = page.locator("#operations-Users-register_user")
    _try_it_out(register)
    body = {"user": {"username": name, "email": f"{name}@example.com", "password": password}}
    register.locator("textarea.body-param__text").fill(json.dumps(body))
    assert _execute(register, 201)["user"]["username"] == name
    _shot(page, "2-registered", _live(register))

    # the OAuth2 password form of Authorize, with the username (the token endpoint takes the
    # email too); found by its heading, since once authorized its inputs give way to the values
    page.locator(".auth-wrapper button.authorize").click()
    heading = page.get_by_role("heading", name="OAuth2 (OAuth2, password)", exact=True)
    oauth2 = page.locator(".modal-ux .auth-container").filter(has=heading)
    oauth2.locator("#oauth_username").fill(name)
    oauth2.locator("#oauth_password").fill(password)
    oauth2.get_by_role("button", name="Authorize").click()
    expect(oauth2.get_by_role("heading", name="Authorized")).to_be_visible(timeout=WAIT)
    expect(oauth2.get_by_role("button", name="Logout")).to_be_visible(timeout=WAIT)
    _shot(page, "3-authorized", page.locator(".modal-ux-inner"))
    oauth2.get_by_role("button", name="Close").click()
    expect(page.locator(".modal-ux")).to_have_count(0, timeout=WAIT)

    # GET /user with the token Swagger UI fetched from the token endpoint
    current = page.locator("#operations-Users-get_current_user")
    _try_it_out(current)
    _untouched(current, "If-None-Match")
    with _sent(page, "GET", "/api/user") as sent:
        assert _execute(current, 200)["user"]["username"] == name
    assert sent.value.headers.get("authorization", "").startswith("Bearer ")
    assert not set(CONDITIONAL) & sent.value.all_headers().keys()
    first_version = _response_headers(current)["etag"]
    _shot(page, "4-current-user", _live(current))

    _writes_as_swagger_ui_fills_them(page)
    _headers_typed_by_hand(page, first_version)

    # nothing, in the whole session, went anywhere but the service, or broke the policy
    assert f"{origin}/api/auth/token" in requests  # the recording saw Swagger UI's own calls
    assert [url for url in requests if urlsplit(url).netloc != urlsplit(origin).netloc] == []
    assert page.evaluate("window.__violations") == []
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors


def _writes_as_swagger_ui_fills_them(page: Page) -> None:
    """Every write, tried with the example bodies and no header filled in; only the slug, which
    names the article, and the second create's body (to make another article) are typed."""
    update_user = page.locator("#operations-Users-update_current_user")
    _try_it_out(update_user)
    _untouched(update_user, "If-Match")
    with _sent(page, "PUT", "/api/user") as sent:
        assert _execute(update_user, 200)["user"]["bio"] == "I like to skateboard"
    assert not set(CONDITIONAL) & sent.value.all_headers().keys()

    create = page.locator("#operations-Articles-create_article")
    _try_it_out(create)
    _untouched(create, "Idempotency-Key")
    with _sent(page, "POST", "/api/articles") as sent:
        first = _execute(create, 201)["article"]
    assert not set(CONDITIONAL) & sent.value.all_headers().keys()
    assert first["title"] == "How to train your dragon"
    second_body = {"title": "A second dragon", "description": "Another", "body": "Believe"}
    _body(create).fill(json.dumps({"article": second_body}))
    second = _execute(create, 201)["article"]
    assert "idempotent-replayed" not in _response_headers(create)
    assert second["title"] == "A second dragon"
    assert second["slug"] != first["slug"]
    _shot(page, "5-created", _live(create))

    update_article = page.locator("#operations-Articles-update_article")
    _try_it_out(update_article)
    _untouched(update_article, "If-Match")
    _field(update_article, "slug").fill(first["slug"])
    updated = _execute(update_article, 200)["article"]
    assert updated["title"] == "Did you train your dragon?"

    comment = page.locator("#operations-Comments-create_comment")
    _try_it_out(comment)
    _untouched(comment, "Idempotency-Key")
    _field(comment, "slug").fill(updated["slug"])
    comments = [_execute(comment, 201)["comment"] for _ in range(2)]
    # two comments, not the first one answered again
    assert "idempotent-replayed" not in _response_headers(comment)
    assert comments[0]["id"] != comments[1]["id"]
    assert [c["body"] for c in comments] == ["It takes a Jacobian"] * 2

    delete = page.locator("#operations-Articles-delete_article")
    _try_it_out(delete)
    _untouched(delete, "If-Match", "reason")
    _field(delete, "slug").fill(updated["slug"])
    with _sent(page, "DELETE", f"/api/articles/{updated['slug']}") as sent:
        assert _execute(delete, 204) is None
    assert not set(CONDITIONAL) & sent.value.all_headers().keys()
    _shot(page, "6-deleted", _live(delete))


def _headers_typed_by_hand(page: Page, first_version: str) -> None:
    """If-Match and Idempotency-Key, typed into their fields, do what the spec says."""
    current = page.locator("#operations-Users-get_current_user")
    update_user = page.locator("#operations-Users-update_current_user")

    # the ETag read before the update above is stale: refused, and nothing changes
    _field(update_user, "If-Match").fill(first_version)
    _body(update_user).fill(json.dumps({"user": {"bio": "Written on a stale version"}}))
    assert _execute(update_user, 412)["status"] == 412
    assert _execute(current, 200)["user"]["bio"] == "I like to skateboard"
    # the current one is accepted
    _field(update_user, "If-Match").fill(_response_headers(current)["etag"])
    _body(update_user).fill(json.dumps({"user": {"bio": "Written on the current version"}}))
    assert _execute(update_user, 200)["user"]["bio"] == "Written on the current version"
    _shot(page, "7-if-match", _live(update_user))

    # a key sent again with the same request answers with the first response, creating nothing
    create = page.locator("#operations-Articles-create_article")
    _field(create, "Idempotency-Key").fill(str(uuid.uuid4()))
    made = _execute(create, 201)["article"]
    assert "idempotent-replayed" not in _response_headers(create)
    assert _execute(create, 201)["article"] == made
    assert _response_headers(create)["idempotent-replayed"] == "true"
    _shot(page, "8-replayed", _live(create))
