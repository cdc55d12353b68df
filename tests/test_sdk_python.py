"""The Python SDK: generated from the spec by openapi-python-client, driven against a live server
through every operation, with the spec's names and the spec's error model.

The package is generated here, into a temporary directory, so it is imported by name at run
time: everything taken from it is `Any` to mypy.
"""

from __future__ import annotations

import datetime
import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from cli import main as cli
from sdk import generate

SPEC: dict[str, Any] = yaml.safe_load(generate.SPEC.read_text())
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# operationId -> the tag it is filed under (the generator's folder: api/<tag>/<operationId>.py)
OPERATIONS: dict[str, str] = {
    op["operationId"]: op["tags"][0]
    for item in SPEC["paths"].values()
    for method, op in item.items()
    if method in METHODS
}
PACKAGE = generate.PACKAGE


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated package, imported from a fresh generation of the spec."""
    if (reason := generate.missing_python_tools()) is not None:
        pytest.skip(reason)
    project = str(generate.python_client(tmp_path_factory.mktemp("sdk")))
    sys.path.insert(0, project)
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(project)
        for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name))


def _is_ref(schema: dict[str, Any]) -> bool:
    """A reference, alone or wrapped to add `readOnly` or a description (as `User.role`)."""
    return "$ref" in schema or [set(s) for s in schema.get("allOf", [])] == [{"$ref"}]


def _is_model(schema: dict[str, Any]) -> bool:
    """Whether the generator makes a class of a schema: objects and enums; plain strings and
    numbers with constraints stay plain types."""
    return "enum" in schema or "allOf" in schema or schema.get("type") == "object"


def test_names_come_from_the_spec(package: ModuleType) -> None:
    schemas: dict[str, dict[str, Any]] = SPEC["components"]["schemas"]
    components = {name for name, schema in schemas.items() if _is_model(schema)}
    # an inline object or enum in a component's property is named after both, as the generator
    # must name it something; the report lists them
    inline = {
        name + _pascal(prop)
        for name, schema in schemas.items()
        for prop, sub in schema.get("properties", {}).items()
        if not _is_ref(sub) and _is_model(sub)
    }
    exported = set(importlib.import_module(f"{PACKAGE}.models").__all__)
    assert exported == components | inline
    for name in components:
        assert getattr(package.models, name).__name__ == name
    assert {"Article", "SingleArticleResponse", "Problem", "User", "Profile"} <= exported
    # nothing named as the generator names an inline response or body: operation + status
    named_after_operations = {
        m
        for m in exported
        for op in OPERATIONS
        if re.fullmatch(rf"{_pascal(op)}(Response\d\d\d|Body).*", m)
    }
    assert named_after_operations == set()
    for operation, tag in OPERATIONS.items():
        module = importlib.import_module(f"{PACKAGE}.api.{tag.lower()}.{operation}")
        assert callable(module.sync_detailed), operation
    assert (Path(str(package.__file__)).parent / "api" / "articles" / "list_articles.py").is_file()


def _property_class(models: ModuleType, schema: str, prop: str) -> Any:
    """The generated class of a component's property: the component it refers to, or for an
    inline schema the name the generator gives it (so a spec that names it keeps this test)."""
    sub = SPEC["components"]["schemas"][schema]["properties"][prop]
    ref = sub.get("$ref") or sub.get("allOf", [{}])[0].get("$ref")
    return getattr(models, ref.rsplit("/", 1)[1] if ref else schema + _pascal(prop))


class Caller:
    """Calls operations through the generated client by operationId, and notes each one."""

    def __init__(self, package: ModuleType, base_url: str) -> None:
        self.package, self.base_url = package, base_url
        self.models = importlib.import_module(f"{PACKAGE}.models")  # not imported by the package
        self.called: set[str] = set()

    def __call__(self, operation: str, *args: Any, token: str | None = None, **kw: Any) -> Any:
        module = importlib.import_module(
            f"{PACKAGE}.api.{OPERATIONS[operation].lower()}.{operation}"
        )
        self.called.add(operation)
        # an answer the spec does not list for the operation raises instead of passing as None
        if token is None:
            client = self.package.Client(base_url=self.base_url, raise_on_unexpected_status=True)
        else:
            client = self.package.AuthenticatedClient(
                base_url=self.base_url, token=token, raise_on_unexpected_status=True
            )
        with client:
            return module.sync_detailed(*args, client=client, **kw)

    def ok(self, response: Any, status: int, model: str | None) -> Any:
        """The parsed body of a success, checked to be the spec's model (None: no body)."""
        assert response.status_code == status, response.content
        expected = type(None) if model is None else getattr(self.models, model)
        assert isinstance(response.parsed, expected), response.parsed
        return response.parsed

    def problem(self, response: Any, status: int) -> Any:
        """The parsed body of an error: the spec's Problem, not raw JSON."""
        assert response.status_code == status, response.content
        problem = response.parsed
        assert isinstance(problem, self.models.Problem), response.content
        assert problem.status == status
        assert problem.title
        assert problem.detail
        errors = problem.errors.additional_properties
        assert errors, problem
        assert all(isinstance(m, str) for messages in errors.values() for m in messages)
        return problem

    def register(self, name: str) -> str:
        m = self.models
        new = m.NewUser(username=name, email=f"{name}@example.com", password=f"{name}-password")
        user = self.ok(self("register_user", body=m.NewUserRequest(user=new)), 201, "UserResponse")
        assert (user.user.username, user.user.role) == (name, m.Role.USER)
        token: str = user.user.token
        return token

    def login(self, name: str) -> str:
        credentials = self.models.LoginUser(
            email=f"{name}@example.com", password=f"{name}-password"
        )
        body = self.models.LoginUserRequest(user=credentials)
        token: str = self.ok(self("login_user", body=body), 200, "UserResponse").user.token
        return token


def _slugs(page: Any) -> list[str]:
    return [a.slug for a in page.articles]


def test_every_operation_through_the_client(
    package: ModuleType, server: str, fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Caller(package, server + "/api")
    m = package.models
    grant_type = _property_class(m, "TokenRequest", "grant_type")
    oauth_error = _property_class(m, "OAuthError", "error")
    user_status = _property_class(m, "ManagedUser", "status")
    action = _property_class(m, "AuditEntry", "action")

    # users: register, the spec's 422, login, the OAuth2 token endpoint and its own error model
    jake, anna, boss = api.register("jake"), api.register("anna"), api.register("boss")
    taken = m.NewUserRequest(
        user=m.NewUser(username="jake", email="jake@example.com", password="another-password")
    )
    assert set(api.problem(api("register_user", body=taken), 422).errors.additional_properties)
    jake = api.login("jake")
    grant = m.TokenRequest(
        grant_type=grant_type.PASSWORD, username="anna", password="anna-password"
    )
    issued = api.ok(api("issue_token", body=grant), 200, "TokenResponse")
    assert (issued.token_type, issued.role, issued.scope) == ("bearer", m.Role.USER, "")
    anna = issued.access_token
    wrong = m.TokenRequest(grant_type=grant_type.PASSWORD, username="anna", password="not-annas")
    refused = api("issue_token", body=wrong)
    assert refused.status_code == 400
    assert isinstance(refused.parsed, m.OAuthError)
    assert refused.parsed.error == oauth_error.INVALID_GRANT

    me = api.ok(api("get_current_user", token=jake), 200, "UserResponse").user
    assert (me.username, me.email, me.bio) == ("jake", "jake@example.com", None)
    change = m.UpdateUserRequest(user=m.UpdateUser(bio="I work at statefarm"))
    updated = api.ok(api("update_current_user", body=change, token=jake), 200, "UserResponse")
    assert updated.user.bio == "I work at statefarm"
    api.problem(api("get_current_user", token="not-a-jwt"), 401)

    # profiles and follows
    profile = api.ok(api("get_profile", "jake", token=anna), 200, "ProfileResponse").profile
    assert (profile.username, profile.bio, profile.following) == (
        "jake",
        "I work at statefarm",
        False,
    )
    api.problem(api("get_profile", "nobody", token=anna), 404)
    assert api.ok(api("follow_user", "anna", token=jake), 200, "ProfileResponse").profile.following
    assert api.ok(api("get_profile", "anna", token=jake), 200, "ProfileResponse").profile.following

    # articles: create, read, update, the author's 403 and the missing one's 404
    def article(token: str, title: str, tags: list[str]) -> Any:
        new = m.NewArticle(title=title, description="About " + title, body="Body", tag_list=tags)
        body = m.NewArticleRequest(article=new)
        created = api.ok(
            api("create_article", body=body, token=token), 201, "SingleArticleResponse"
        )
        assert isinstance(created.article, m.Article)
        return created.article

    dragons = article(anna, "How to train your dragon", ["dragons", "training"])
    assert (dragons.slug, dragons.author.username) == ("how-to-train-your-dragon", "anna")
    assert isinstance(dragons.created_at, datetime.datetime)
    assert dragons.created_at.tzinfo is not None
    react = article(jake, "Reacting", ["reactjs"])

    edit = m.UpdateArticleRequest(article=m.UpdateArticle(body="You have to believe"))
    edited = api.ok(
        api("update_article", dragons.slug, body=edit, token=anna), 200, "SingleArticleResponse"
    )
    assert edited.article.body == "You have to believe"
    forbidden = api.problem(api("update_article", dragons.slug, body=edit, token=jake), 403)
    assert forbidden.title == "Forbidden"
    read = api.ok(api("get_article", dragons.slug, token=jake), 200, "SingleArticleResponse")
    assert (read.article.title, read.article.body) == (
        "How to train your dragon",
        edited.article.body,
    )
    api.problem(api("get_article", "no-such-article", token=jake), 404)

    # favourites, and the list with each filter and paging
    faved = api.ok(api("favorite_article", dragons.slug, token=jake), 200, "SingleArticleResponse")
    assert (faved.article.favorited, faved.article.favorites_count) == (True, 1)

    def listed(**filters: Any) -> Any:
        page = api.ok(api("list_articles", token=jake, **filters), 200, "MultipleArticlesResponse")
        assert all(isinstance(a, m.ArticlePreview) for a in page.articles)
        return page

    everything = listed()
    assert (_slugs(everything), everything.articles_count) == ([react.slug, dragons.slug], 2)
    assert _slugs(listed(tag="dragons")) == [dragons.slug]
    assert _slugs(listed(author="jake")) == [react.slug]
    assert _slugs(listed(favorited="jake")) == [dragons.slug]
    assert _slugs(listed(author="anna", tag="reactjs")) == []
    first, second = listed(limit=1, offset=0), listed(limit=1, offset=1)
    assert (_slugs(first), _slugs(second)) == ([react.slug], [dragons.slug])
    assert first.articles_count == second.articles_count == 2
    # by cursor: the first page's nextCursor leads to the second, whose nextCursor is null
    by_cursor = listed(limit=1, cursor=first.next_cursor)
    assert (_slugs(by_cursor), by_cursor.next_cursor) == ([dragons.slug], None)
    assert isinstance(first.next_cursor, str)
    api.problem(api("list_articles", limit=1, cursor=first.next_cursor, tag="x", token=jake), 422)
    api.problem(api("list_articles", limit=1000, token=jake), 422)
    feed = api.ok(api("list_feed", token=jake), 200, "MultipleArticlesResponse")
    assert (_slugs(feed), feed.articles_count) == ([dragons.slug], 1)
    unfaved = api.ok(
        api("unfavorite_article", dragons.slug, token=jake), 200, "SingleArticleResponse"
    )
    assert (unfaved.article.favorited, unfaved.article.favorites_count) == (False, 0)
    assert not api.ok(
        api("unfollow_user", "anna", token=jake), 200, "ProfileResponse"
    ).profile.following

    # comments
    note = m.NewCommentRequest(comment=m.NewComment(body="It takes a Jacobian"))
    comment = api.ok(
        api("create_comment", dragons.slug, body=note, token=jake), 201, "SingleCommentResponse"
    ).comment
    assert (comment.body, comment.author.username) == ("It takes a Jacobian", "jake")
    comments = api.ok(
        api("list_comments", dragons.slug, token=anna), 200, "MultipleCommentsResponse"
    )
    assert [c.id for c in comments.comments] == [comment.id]
    api.problem(api("delete_comment", dragons.slug, comment.id, token=anna), 403)
    api.ok(api("delete_comment", dragons.slug, comment.id, token=jake), 204, None)
    assert (
        api.ok(
            api("list_comments", dragons.slug, token=anna), 200, "MultipleCommentsResponse"
        ).comments
        == []
    )

    tags = api.ok(api("list_tags"), 200, "TagsResponse")
    assert tags.tags == ["dragons", "reactjs", "training"]

    # logging out everywhere revokes the token it was sent with
    api.ok(api("logout_everywhere", token=jake), 204, None)
    api.problem(api("get_current_user", token=jake), 401)
    jake = api.login("jake")

    # administration: a plain user lacks the scope; the CLI makes the first admin
    assert "scope" in api.problem(api("list_users", token=jake), 403).errors.additional_properties
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("CONDUIT_ENV", "development")
    assert cli(["admin", "boss", "--role", "admin"]) == 0
    api.problem(api("get_current_user", token=boss), 401)  # a new role revokes the old token
    grant = m.TokenRequest(
        grant_type=grant_type.PASSWORD, username="boss", password="boss-password"
    )
    issued = api.ok(api("issue_token", body=grant), 200, "TokenResponse")
    assert isinstance(issued.role, m.Role)
    assert issued.role == m.Role.ADMIN
    assert {"users:admin", "audit:read"} <= set(issued.scope.split())
    boss = issued.access_token

    users = api.ok(api("list_users", token=boss), 200, "UsersResponse")
    assert ([u.username for u in users.users], users.users_count) == (["jake", "anna", "boss"], 3)
    page = api.ok(api("list_users", q="a", limit=1, offset=0, token=boss), 200, "UsersResponse")
    assert ([u.username for u in page.users], page.users_count) == (["anna"], 1)
    managed = api.ok(api("get_user", "jake", token=boss), 200, "ManagedUserResponse").user
    assert isinstance(managed, m.ManagedUser)
    assert (managed.role, managed.status) == (m.Role.USER, user_status.ACTIVE)
    assert (managed.counts.articles, managed.counts.favorites) == (1, 0)
    api.problem(api("get_user", "nobody", token=boss), 404)
    promote = m.RoleChangeRequest(role=m.Role.MODERATOR)
    promoted = api.ok(
        api("change_role", "anna", body=promote, token=boss), 200, "ManagedUserResponse"
    ).user
    assert promoted.role == m.Role.MODERATOR
    suspend = m.SuspensionRequest(reason="Spam in comments")
    suspended = api.ok(
        api("suspend_user", "jake", body=suspend, token=boss), 200, "ManagedUserResponse"
    ).user
    assert (suspended.status, suspended.suspension_reason) == (
        user_status.SUSPENDED,
        "Spam in comments",
    )
    api.problem(api("get_current_user", token=jake), 403)
    reinstated = api.ok(api("reinstate_user", "jake", token=boss), 200, "ManagedUserResponse").user
    assert (reinstated.status, reinstated.suspension_reason) == (user_status.ACTIVE, None)

    # an admin may delete what others wrote, with a reason for the audit log
    api.ok(api("delete_article", react.slug, reason="off topic", token=boss), 204, None)
    api.problem(api("get_article", react.slug, token=boss), 404)
    log = api.ok(api("list_audit_log", limit=10, offset=0, token=boss), 200, "AuditLogResponse")
    assert isinstance(log.entries[0], m.AuditEntry)
    assert [(e.action, e.actor, e.target) for e in log.entries] == [
        (action.ARTICLE_DELETE, "boss", "jake"),
        (action.USER_REINSTATE, "boss", "jake"),
        (action.USER_SUSPEND, "boss", "jake"),
        (action.USER_ROLE, "boss", "anna"),
        (action.USER_ROLE, None, "boss"),
    ]
    assert (log.entries_count, log.entries[0].reason) == (5, "off topic")

    assert api.called == set(OPERATIONS)
