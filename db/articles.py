"""Articles, their tags and favourites; the list queries run a fixed number of statements."""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slugify import slugify
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    cast,
    column,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    select,
    table,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import REAL
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from db import audit, search
from db.errors import Forbidden, Invalid, NotFound
from db.models import (
    Article,
    ArticleSlug,
    ArticleTag,
    Counter,
    Favorite,
    Follow,
    Tag,
    User,
    utcnow,
)
from db.util import insert_ignore

# slugify loads its transliteration table on the first title that is not ASCII: 4.8 MiB in each
# worker, and 5 ms of that request. Loaded with this module instead, it is out of the requests'
# way, and a worker's memory is flat from the start (`make fuzz` watches it).
slugify("\u00e9")

SLUG_MAX = 200
_SLUG_ATTEMPTS = 5


@dataclass(frozen=True)
class Filters:
    tag: str | None = None
    author: str | None = None
    favorited: str | None = None
    # the feed: only authors this user follows
    followed_by: int | None = None
    # a full-text search, in the web-search syntax of db/search.py
    q: str | None = None

    def parameters(self, dialect: str) -> dict[str, Any]:
        """The values the statement for these filters takes (see `_list_statements`): their
        names are the statement's shape. A search is `q` on PostgreSQL, which parses it, and
        SQLite's translation of it, `match` and `exclude`, there."""
        values = {k: v for k, v in vars(self).items() if v is not None}
        if self.q is not None and dialect != "postgresql":
            translated = search.translate(values.pop("q"))
            values.update(match=translated.match, exclude=translated.exclude)
            values = {k: v for k, v in values.items() if v is not None}
            if translated.shape == "nothing":
                values["nothing"] = True
        return values


def _conditions(given: frozenset[str]) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if "tag" in given:
        tagged = select(ArticleTag.article_id).join(Tag, Tag.id == ArticleTag.tag_id)
        where.append(Article.id.in_(tagged.where(Tag.name == bindparam("tag"))))
    if "author" in given:
        author = select(User.id).where(User.username == bindparam("author")).scalar_subquery()
        where.append(Article.author_id == author)
    if "favorited" in given:
        fans = select(Favorite.article_id).join(User, User.id == Favorite.user_id)
        where.append(Article.id.in_(fans.where(User.username == bindparam("favorited"))))
    if "followed_by" in given:
        followed = select(Follow.followee_id).where(Follow.follower_id == bindparam("followed_by"))
        where.append(Article.author_id.in_(followed))
    return where


@dataclass(frozen=True)
class Position:
    """Where a page ended, for the next to start after (keyset paging): the last row's place in
    the list's order, (created_at, id) newest first, or with a search (rank, created_at, id)."""

    created_at: datetime
    id: int
    rank: float | None = None

    @classmethod
    def of(cls, row: Row[Any]) -> Position:
        rank = getattr(row, "rank", None)  # a search's rows have one
        return cls(row.created_at, row.id, None if rank is None else float(rank))

    def parameters(self) -> dict[str, Any]:
        values = {"after_created": self.created_at, "after_id": self.id}
        if self.rank is not None:
            values["after_rank"] = self.rank
        return values


_SEARCHES = frozenset({"q", "match", "exclude", "nothing"})
_FTS = table("articles_fts", column("rowid", Integer))
_FTS_TABLE: ColumnElement[Any] = literal_column(
    "articles_fts"
)  # FTS5 takes the table's name as an argument
# PostgreSQL's stored tsvector (migration 0007), which the model leaves out
_SEARCH_VECTOR: ColumnElement[Any] = literal_column("articles.search")


def _fts5_matches(name: str) -> ColumnElement[bool]:
    return _FTS_TABLE.op("MATCH")(bindparam(name, type_=String()))


def _searched(
    statement: Select[Any], dialect: str, given: frozenset[str]
) -> tuple[Select[Any], ColumnElement[float]]:
    """The statement over articles narrowed to a search's matches, and each match's relevance,
    higher first: `ts_rank_cd` on PostgreSQL, bm25 (made positive) on SQLite."""
    if dialect == "postgresql":
        q = bindparam("q", type_=String())
        query = func.websearch_to_tsquery(literal_column("'english'"), q)
        ranked = func.ts_rank_cd(_SEARCH_VECTOR, query)
        return statement.where(_SEARCH_VECTOR.op("@@")(query)), ranked
    if "nothing" in given:  # the text held no word at all: nothing matches, as on PostgreSQL
        return statement.where(false()), literal(0.0)
    excluded = Article.id.not_in(select(_FTS.c.rowid).where(_fts5_matches("exclude")))
    if "match" not in given:
        return statement.where(excluded), literal(0.0)
    bm25 = func.bm25(_FTS_TABLE, *search.BM25_WEIGHTS)
    matches = (
        select(_FTS.c.rowid.label("id"), (-bm25).label("rank"))
        .where(_fts5_matches("match"))
        .subquery("matches")
    )
    if "exclude" not in given:
        return statement.join(matches, matches.c.id == Article.id), matches.c.rank
    either = statement.outerjoin(matches, matches.c.id == Article.id)
    either = either.where(matches.c.id.is_not(None) | excluded)
    return either, func.coalesce(matches.c.rank, 0.0)


def _after(dialect: str, given: frozenset[str], columns: Any) -> ColumnElement[bool]:
    """The rows after a position in the list's order (a row comparison the index serves).

    With a search, the position's rank is the one it was given on PostgreSQL, whose ts_rank_cd
    reads only the article itself. SQLite's bm25 also depends on every other article (how many
    have each word, their lengths), so an insert anywhere moves every rank: there the position's
    rank is read again, in this statement, from the row it names (the one it was given only
    when that row no longer matches)."""
    created = bindparam("after_created", type_=Article.__table__.c.created_at.type)
    row_id = bindparam("after_id", type_=Integer())
    place = tuple_(columns.created_at, columns.id)
    if not given & _SEARCHES:
        return place < tuple_(created, row_id)
    given_rank: ColumnElement[float] = bindparam("after_rank", type_=Float())
    if dialect == "postgresql":
        given_rank = cast(given_rank, REAL)  # ts_rank_cd's own type, compared exactly
    elif "match" in given:
        bm25 = func.bm25(_FTS_TABLE, *search.BM25_WEIGHTS)
        now = select(-bm25).where(_fts5_matches("match"), _FTS.c.rowid == row_id)
        given_rank = func.coalesce(now.scalar_subquery(), given_rank)
    return tuple_(columns.rank, *place) < tuple_(given_rank, created, row_id)


def _total(
    given: frozenset[str], where: list[ColumnElement[bool]], dialect: str
) -> ColumnElement[int]:
    """The exact number of articles the filters match: one counter row when the filters have
    one (migration 0002 keeps them), or a count when filters are combined."""
    counted: Select[Any]
    if not given:
        # numeric on PostgreSQL, as a sum of bigints is: made an integer again
        total = cast(func.sum(Counter.value), BigInteger)
        counted = select(total).where(Counter.name == "articles")
    elif given == {"tag"}:
        counted = select(Tag.articles_count).where(Tag.name == bindparam("tag"))
    elif given == {"author"}:
        counted = select(User.articles_count).where(User.username == bindparam("author"))
    elif given == {"favorited"}:
        counted = select(User.favorites_count).where(User.username == bindparam("favorited"))
    elif given == {"followed_by"}:
        counted = (
            select(func.sum(User.articles_count))
            .join(Follow, Follow.followee_id == User.id)
            .where(Follow.follower_id == bindparam("followed_by"))
        )
    else:  # combined filters, or a search: bounded by the smaller set, which the indexes find
        counted = select(func.count()).select_from(Article).where(*where)
        if given & _SEARCHES:
            counted, _ = _searched(counted, dialect, given)
    return func.coalesce(counted.scalar_subquery(), 0)


def _tag_names(dialect: str) -> ColumnElement[Any]:
    """The article's tag names, aggregated inside the card's own query: an array on PostgreSQL
    (the driver hands over a list), a JSON array on SQLite, which has no arrays."""
    names = Tag.name
    aggregate = func.array_agg(names) if dialect == "postgresql" else func.json_group_array(names)
    return (
        select(aggregate)
        .select_from(ArticleTag)
        .join(Tag, Tag.id == ArticleTag.tag_id)
        .where(ArticleTag.article_id == Article.id)
        .scalar_subquery()
    )


def tag_list(row: Row[Any]) -> list[str]:
    """A card's tags, sorted here rather than in SQL: one order on every database and collation."""
    names = row.tag_names
    if isinstance(names, str):  # SQLite's JSON text
        names = json.loads(names)
    return sorted(names or [])


def _cards(
    *, viewer: bool, with_body: bool, dialect: str, changed: Any = None, favorite: bool = True
) -> Select[Any]:
    """Everything one article shows, author, tags and viewer flags included, in one row.

    `changed`: a data-changing WITH that favourited (`favorite`) or unfavourited the article
    for the viewer in the same statement, which the rest of the statement does not see: its
    rows are counted in, and the viewer's flag is what it made."""
    favorites_count: ColumnElement[int] = (
        select(func.count()).where(Favorite.article_id == Article.id).scalar_subquery()
    )
    favorited: ColumnElement[bool] = false()
    following: ColumnElement[bool] = false()
    if viewer:
        me: BindParameter[int] = bindparam("viewer")
        favorited = exists().where(Favorite.article_id == Article.id, Favorite.user_id == me)
        following = exists().where(
            Follow.follower_id == me, Follow.followee_id == Article.author_id
        )
    if changed is not None:
        by = select(func.count()).select_from(changed).scalar_subquery()
        favorites_count = favorites_count + by if favorite else favorites_count - by
        favorited = literal(favorite)
    columns: list[Any] = [
        Article.id,
        Article.slug,
        Article.title,
        Article.description,
        Article.created_at,
        Article.updated_at,
        favorites_count.label("favorites_count"),
        favorited.label("favorited"),
        User.username,
        User.bio,
        User.image,
        following.label("following"),
        _tag_names(dialect).label("tag_names"),
    ]
    if with_body:
        columns.append(Article.body)
    return select(*columns).join(User, User.id == Article.author_id)


# Statements are built once per shape and reused with new values: SQLAlchemy then finds its
# compiled form without walking the statement again (the cache key is memoised on the object).
@functools.cache
def _list_statements(
    dialect: str, given: frozenset[str], viewer: bool
) -> tuple[Select[Any], Select[Any]]:
    where = _conditions(given)
    # the total is of the whole list, wherever the page starts
    total = _total(given - {"after"}, where, dialect)
    newest_first = (Article.created_at.desc(), Article.id.desc())
    # the page is chosen from the indexes alone, and only its rows are made into cards: an
    # offset then skips index entries, not whole cards, and the planner, expecting a page of
    # rows rather than every article, probes the viewer's favourites per row instead of
    # hashing all of them
    chosen: Select[Any] = select(Article.id).where(*where)
    order: tuple[Any, ...] = newest_first
    columns: Any = Article.__table__.c  # the columns the order and a position are of
    if given & _SEARCHES:
        chosen = _ranked(chosen, dialect, given)
        columns = chosen.selected_columns
        order = (columns.rank.desc(), columns.created_at.desc(), columns.id.desc())
    if "after" in given:
        chosen = chosen.where(_after(dialect, given, columns))
    chosen_page = (
        chosen.order_by(*order)
        # written into the SQL, so that PostgreSQL's cached generic plan knows the page size
        .limit(bindparam("limit", type_=Integer(), literal_execute=True))
        .offset(bindparam("offset", type_=Integer(), literal_execute=True))
        .subquery("chosen")
    )
    outer_order: tuple[Any, ...] = newest_first
    cards = _cards(viewer=viewer, with_body=False, dialect=dialect)
    page_total: ColumnElement[int] = total
    if given & _SEARCHES:
        outer_order = (chosen_page.c.rank.desc(), *newest_first)
        cards = cards.add_columns(chosen_page.c.rank)
        page_total = chosen_page.c.total  # counted in the scan that ranked the matches
    rows = (
        cards.add_columns(page_total.label("total"))
        .join(chosen_page, chosen_page.c.id == Article.id)
        .order_by(*outer_order)
    )
    return rows, select(total)


def _ranked(chosen: Select[Any], dialect: str, given: frozenset[str]) -> Select[Any]:
    """Every match of a search with its relevance and their number, counted in the same scan:
    a common word matches a fifth of all articles, and a second scan to count them would cost
    as much as the first. A page (or a cursor's place) is then chosen among them."""
    searched, rank = _searched(chosen, dialect, given)
    ranked = searched.add_columns(
        Article.created_at, rank.label("rank"), func.count().over().label("total")
    ).subquery("ranked")
    return select(ranked)


def id_by_slug(slug: Any) -> ColumnElement[int]:
    """The id of the article with this slug, or of the one that had it before a new title:
    one index probe, and a second only for an old slug."""
    return func.coalesce(
        select(Article.id).where(Article.slug == slug).scalar_subquery(),
        select(ArticleSlug.article_id).where(ArticleSlug.slug == slug).scalar_subquery(),
    )


@functools.cache
def _card_statement(dialect: str, viewer: bool) -> Select[Any]:
    return _cards(viewer=viewer, with_body=True, dialect=dialect).where(
        Article.id == id_by_slug(bindparam("slug"))
    )


@functools.cache
def _favoriting_card_statement(favorite: bool) -> Select[Any]:
    """PostgreSQL: (un)favourite and read the card back in one statement."""
    the_article = id_by_slug(bindparam("slug"))
    viewer = bindparam("viewer", type_=Integer())
    change: Any
    if favorite:
        chosen = select(Article.id, viewer).where(Article.id == the_article)
        change = (
            postgresql_insert(Favorite)
            .from_select(["article_id", "user_id"], chosen)
            .on_conflict_do_nothing()
        )
    else:
        change = delete(Favorite).where(
            Favorite.article_id == the_article, Favorite.user_id == viewer
        )
    changed = change.returning(Favorite.article_id).cte("changed")
    card = _cards(
        viewer=True, with_body=True, dialect="postgresql", changed=changed, favorite=favorite
    )
    return card.where(Article.id == the_article)


def favorite_card(s: Session, slug: str, user_id: int, *, favorite: bool) -> Row[Any]:
    """Favourite (or unfavourite) the article for the user; the card as the user sees it now.
    One statement on PostgreSQL, two on SQLite, which has no data-changing WITH."""
    if _dialect(s) != "postgresql":
        (_favorite if favorite else _unfavorite)(s, slug, user_id)
        return card(s, slug, viewer_id=user_id)
    values = {"slug": slug, "viewer": user_id}
    try:
        row = s.connection().execute(_favoriting_card_statement(favorite), values).first()
    except IntegrityError:  # deleted by another transaction after this one saw it
        raise article_not_found() from None
    if row is None:
        raise article_not_found()
    return row


def page(
    s: Session,
    filters: Filters,
    *,
    viewer_id: int | None,
    limit: int,
    offset: int = 0,
    after: Position | None = None,
) -> tuple[Sequence[Row[Any]], int, bool]:
    """One page, newest first (the most relevant first with a search), with tags and the
    total, and whether more rows follow it: one statement (two past the end). `after` starts
    the page after that position instead of at `offset`; it asks for one row more than the
    page, to tell whether more follow."""
    dialect = _dialect(s)
    values = filters.parameters(dialect)
    # the statement's shape: the filters given, and whether the page starts after a position
    given = frozenset(values) | ({"after"} if after is not None else set())
    rows_statement, total_statement = _list_statements(dialect, given, viewer_id is not None)
    if after is not None:
        values.update(after.parameters())
    values.update(viewer=viewer_id, limit=limit + (after is not None), offset=offset)
    connection = s.connection()  # Core: these rows are not ORM objects
    rows = connection.execute(rows_statement, values).all()
    total = rows[0].total if rows else connection.execute(total_statement, values).scalar_one()
    if after is not None:
        return rows[:limit], total, len(rows) > limit
    return rows, total, offset + len(rows) < total


def card(s: Session, slug: str, *, viewer_id: int | None) -> Row[Any]:
    statement = _card_statement(_dialect(s), viewer_id is not None)
    row = s.connection().execute(statement, {"slug": slug, "viewer": viewer_id}).first()
    if row is None:
        raise article_not_found()
    return row


def _dialect(s: Session) -> str:
    return s.get_bind().dialect.name


_TAGS_IN_USE = select(Tag.name).where(Tag.articles_count > 0)


def tags_in_use(s: Session) -> list[str]:
    return sorted(s.connection().execute(_TAGS_IN_USE).scalars())


def article_not_found() -> NotFound:
    return NotFound({"article": ["not found"]}, "There is no article with that slug.")


def by_slug(s: Session, slug: str, *, lock: bool = False) -> Article:
    """The article with this slug now, or before its title changed.

    `lock`, for a change to the article itself: its row stays locked until the transaction
    ends, so that an edit and a deletion, or two edits, of one article take turns. The one that
    waited then finds it gone (404) or reads what the other committed (which If-Match compares),
    and every writer locks the article before the counters (`_lock_counters`), so the two
    cannot deadlock. FOR NO KEY UPDATE lets favourites and comments, whose foreign keys only
    share the row's key, go on meanwhile. SQLite has one writer at a time anyway."""
    statement = select(Article).where(Article.id == id_by_slug(slug))
    if lock:
        statement = statement.with_for_update(key_share=True)
    article = s.scalar(statement)
    if article is None:
        raise article_not_found()
    return article


def owned_by(
    s: Session, slug: str, user_id: int, *, moderating: bool = False, lock: bool = False
) -> Article:
    """The article, if the user wrote it, or may act on anyone's (a moderator)."""
    article = by_slug(s, slug, lock=lock)
    if article.author_id != user_id and not moderating:
        raise Forbidden({"article": ["is not yours"]}, "Only the author may change this article.")
    return article


@dataclass(frozen=True)
class Created:
    """What a new article shows that the caller did not send: everything else is as sent."""

    slug: str
    created_at: datetime
    tags: list[str]


def create(
    s: Session, *, author_id: int, title: str, description: str, body: str, tags: Sequence[str]
) -> Created:
    """The new article: the insert itself finds out whether a slug is taken (ON CONFLICT DO
    NOTHING) or was another article's (NOT EXISTS, in the same statement), and on PostgreSQL
    the same statement adds the tags; with the lock first, three statements in all."""
    now = utcnow()
    values = {"author_id": author_id, "title": title, "description": description, "body": body,
              "created_at": now, "updated_at": now}  # fmt: skip
    wanted = _tag_names_wanted(tags)
    postgresql = _dialect(s) == "postgresql"
    if postgresql:
        # the insert's trigger takes this lock anyway; taking it first makes the check for old
        # slugs in the insert (a later statement, so a later snapshot) see every rename
        # committed before it, and keeps the order of locks `_lock_counters` gives
        s.connection().execute(_LOCK_OWN_SLOT)
    connection = s.connection()  # Core: no ORM object is made of the new article
    for candidate in _candidates(title):
        if postgresql:
            added = connection.execute(_CREATE, {**values, "slug": candidate, "tags": wanted})
        else:
            added = connection.execute(_INSERT_UNLESS_TAKEN, {**values, "slug": candidate})
        new_id = added.scalar()
        if new_id is not None:
            if not postgresql:
                _add_tags(s, new_id, wanted)
            return Created(candidate, now, wanted)
    raise Invalid.on("title", "could not be made into a unique slug; try another")


def _insert_unless_taken() -> Any:
    """INSERT the article unless its slug is taken now or was another article's before."""
    columns = ("slug", "title", "description", "body", "author_id", "created_at", "updated_at")
    old = exists().where(ArticleSlug.slug == bindparam("slug"))
    types = Article.__table__.c
    chosen = select(*(bindparam(c, type_=types[c].type) for c in columns)).where(~old)
    return (
        sqlite_insert(Article)
        .from_select(columns, chosen)
        .on_conflict_do_nothing(index_elements=["slug"])
        .returning(Article.id)
    )


# SQLite: the article, then its tags (`_add_tags`); SQLite has one writer at a time anyway
_INSERT_UNLESS_TAKEN = _insert_unless_taken()

# PostgreSQL: the article, its new tags and its tag links in one statement. The tags are
# upserted (DO UPDATE, with the name it has) rather than skipped, so that RETURNING gives the id
# of every tag, new or not, including one another transaction committed a moment ago, which
# this statement's snapshot would not show; sorted, they are locked in one order by everyone.
# `tags_text` is written here as the links' trigger would make it (migration 0007: sorted by code
# point, which `wanted` is), so the trigger finds it current and updates nothing.
_CREATE = text("""
WITH article AS (
    INSERT INTO articles (slug, title, description, body, author_id, created_at, updated_at,
                          tags_text)
    SELECT CAST(:slug AS varchar), :title, :description, :body, :author_id, :created_at,
           :updated_at, array_to_string(CAST(:tags AS varchar[]), ' ')
    WHERE NOT EXISTS (SELECT 1 FROM article_slugs WHERE slug = CAST(:slug AS varchar))
    ON CONFLICT (slug) DO NOTHING
    RETURNING id
), tag AS (
    INSERT INTO tags (name)
    SELECT name FROM unnest(CAST(:tags AS varchar[])) AS name
    WHERE EXISTS (SELECT 1 FROM article)
    ORDER BY name
    ON CONFLICT (name) DO UPDATE SET name = excluded.name
    RETURNING id
), link AS (
    INSERT INTO article_tags (article_id, tag_id)
    SELECT article.id, tag.id FROM article, tag ORDER BY tag.id
)
SELECT id FROM article
""")


def update(s: Session, article: Article, changes: Mapping[str, Any]) -> Article:
    tags = changes.get("tagList")
    for name in ("title", "description", "body"):
        if name in changes:
            setattr(article, name, changes[name])
    if "title" in changes and not _slug_fits(article.slug, changes["title"]):
        _rename(s, article)
    else:
        s.flush()
    if tags is not None:
        _lock_counters(s)
        s.execute(delete(ArticleTag).where(ArticleTag.article_id == article.id))
        _add_tags(s, article.id, tags)
    return article


def delete_article(s: Session, article: Article, *, by: int, reason: str | None = None) -> None:
    """Delete it, with its comments, favourites and tag links (ON DELETE CASCADE); deleting
    someone else's article is moderation, and goes into the audit log."""
    _lock_counters(s)
    s.execute(delete(Article).where(Article.id == article.id))
    if by != article.author_id:
        audit.record(s, actor_id=by, action="article.delete", target_user_id=article.author_id,
                     subject=f"{article.slug}: {article.title}", reason=reason)  # fmt: skip


# The slots of the article total on PostgreSQL (migration 0006): each database session adds
# to the slot its backend's process id picks, so that creates on different connections do not
# take turns on one row.
COUNTER_SLOTS = 16
_OWN_SLOT = func.pg_backend_pid() % COUNTER_SLOTS
_LOCK_OWN_SLOT = (
    select(Counter.value)
    .where(Counter.name == "articles", Counter.slot == _OWN_SLOT)
    .with_for_update()
)
_LOCK_EVERY_SLOT = (
    select(Counter.value).where(Counter.name == "articles").order_by(Counter.slot).with_for_update()
)


def _lock_counters(s: Session) -> None:
    """Deleting an article, renaming it or changing its tags locks every slot of the total
    first, in order; creating one locks its session's slot first (`create`). So a create and
    one of these take turns (the rename's check for a free slug and the create's check for an
    old one each see what the other committed), and two transactions that change several
    counters (the total, then the author, then the tags, in the triggers) wait for each other
    instead of deadlocking: whoever holds a slot holds no author or tag row another needs
    before it. An edit or a deletion has locked its article before (`by_slug`). SQLite has one
    writer at a time anyway, and no FOR UPDATE."""
    if _dialect(s) == "postgresql":
        s.connection().execute(_LOCK_EVERY_SLOT)


# SQLite's favouriting (`favorite_card`), built once as the card is: a statement built anew on
# every request costs more in SQLAlchemy than the round trip it makes
_FAVORITE = (
    sqlite_insert(Favorite)
    .from_select(
        ["article_id", "user_id"],
        select(Article.id, bindparam("user", type_=Integer())).where(
            Article.id == id_by_slug(bindparam("slug"))
        ),
    )
    .on_conflict_do_nothing()
)
_UNFAVORITE = delete(Favorite).where(
    Favorite.article_id == id_by_slug(bindparam("slug")), Favorite.user_id == bindparam("user")
)


def _favorite(s: Session, slug: str, user_id: int) -> None:
    """Favourite the article with that slug, if there is one (the caller reads it back next,
    which tells a missing article); favouriting twice is once."""
    s.connection().execute(_FAVORITE, {"slug": slug, "user": user_id})


def _unfavorite(s: Session, slug: str, user_id: int) -> None:
    s.connection().execute(_UNFAVORITE, {"slug": slug, "user": user_id})


def _base_slug(title: str) -> str:
    return slugify(title, max_length=SLUG_MAX, word_boundary=True) or "article"


def _slug_fits(slug: str, title: str) -> bool:
    """Whether the slug already belongs to this title (exactly, or with a uniqueness suffix)."""
    base = _base_slug(title)
    return slug == base or (slug.startswith(base + "-") and len(slug) == len(base) + 7)


def _candidates(title: str) -> list[str]:
    base = _base_slug(title)
    return [base] + [f"{base}-{secrets.token_hex(3)}" for _ in range(_SLUG_ATTEMPTS)]


def _rename(s: Session, article: Article) -> None:
    """A slug for the article's new title; the one it had keeps leading to it. Renames and
    creations take the counters' lock first, so one never takes a slug the other is giving up
    or claiming (SQLite has one writer anyway)."""
    _lock_counters(s)
    for candidate in _candidates(article.title):
        others = exists().where(Article.slug == candidate, Article.id != article.id)
        before = exists().where(ArticleSlug.slug == candidate, ArticleSlug.article_id != article.id)
        if s.scalar(select(others | before)):
            continue
        # a slug it had before (renamed back) is its current one again
        s.execute(delete(ArticleSlug).where(ArticleSlug.slug == candidate))
        insert_ignore(s, ArticleSlug, [{"slug": article.slug, "article_id": article.id}])
        article.slug = candidate
        s.flush()
        return
    raise Invalid.on("title", "could not be made into a unique slug; try another")


def _tag_names_wanted(names: Sequence[str]) -> list[str]:
    """The tags as stored and shown: trimmed, each once, sorted."""
    return sorted({name.strip() for name in names if name.strip()})


def _add_tags(s: Session, article_id: int, names: Sequence[str]) -> None:
    """Link the article to its tags, creating the new ones: two statements whatever the count."""
    wanted = _tag_names_wanted(names)
    if not wanted:
        return
    insert_ignore(s, Tag, [{"name": name} for name in wanted])
    chosen = select(literal(article_id), Tag.id).where(Tag.name.in_(wanted)).order_by(Tag.id)
    s.execute(insert(ArticleTag).from_select(["article_id", "tag_id"], chosen))
