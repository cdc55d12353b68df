"""Full-text search over articles on each engine's own machinery (migration 0007).

The syntax is a web search's, on both databases: words are ANDed, `"a phrase"` needs its words
together and in order, `-word` (or `-"a phrase"`) excludes, and `or` between two words matches
either. Case does not matter and words match by their English stem.

- PostgreSQL parses it itself: `websearch_to_tsquery('english', q)`, which is made for text as
  people type it and never fails on it, matched against the stored `search` tsvector (GIN) and
  ranked with `ts_rank_cd`.
- SQLite's FTS5 has its own grammar, in which quotes, `NEAR(`, `col:`, `*`, `^`, `AND`, `OR`
  and `NOT` mean things. `translate` reads the web-search syntax here and writes an FTS5 query
  in which every term is a quoted string (a `"` inside it doubled) and the operators stand only
  where the grammar puts them, so no user text is ever read as FTS5 syntax. It is ranked with
  `bm25()`, the columns weighted title, description, tags, body.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# bm25's weight of each FTS5 column, in the table's order (title, description, tags, body): a
# match in an earlier column outweighs one in a later column
BM25_WEIGHTS = (8.0, 4.0, 2.0, 1.0)


@dataclass(frozen=True)
class Fts5Query:
    """What SQLite runs for one search: the articles `match` finds, and every article that
    `exclude` does not find; either may be None (both None: the text held no word, like `***`,
    and nothing matches, as on PostgreSQL)."""

    match: str | None
    exclude: str | None

    @property
    def shape(self) -> str:
        """Which statement it needs: "match", "exclude", "either" or "nothing"."""
        if self.match is not None:
            return "match" if self.exclude is None else "either"
        return "exclude" if self.exclude is not None else "nothing"


@dataclass(frozen=True)
class _Term:
    text: str
    negated: bool
    phrase: bool = False


_OR = object()


def _is_word_character(c: str) -> bool:
    """A letter, digit, mark or private-use character: what both engines build words of."""
    category = unicodedata.category(c)
    return category[0] in "LNM" or category == "Co"


def _has_word(text: str) -> bool:
    return any(_is_word_character(c) and unicodedata.category(c)[0] != "M" for c in text)


def _words(text: str) -> list[str]:
    """The words of unquoted text, which any other character separates: `NEAR(title)` is the two
    words near and title, as websearch_to_tsquery reads it."""
    words, current = [], ""
    for c in text + " ":
        if _is_word_character(c):
            current += c
        elif current:
            words.append(current)
            current = ""
    return [w for w in words if _has_word(w)]


def _tokens(q: str) -> list[_Term | object]:
    """The web-search syntax read left to right: terms (words or phrases, maybe negated) and
    `or`. A quote left open runs to the end, so a stray quote loses no words."""
    found: list[_Term | object] = []
    i, n = 0, len(q)
    while i < n:
        if q[i].isspace():
            i += 1
            continue
        negated = q[i] == "-"
        if negated:
            i += 1
            if i == n or q[i].isspace():
                continue  # a dash alone excludes nothing
        if q[i] == '"':
            end = q.find('"', i + 1)
            end = n if end == -1 else end
            found.append(_Term(q[i + 1 : end], negated, phrase=True))
            i = end + 1
            continue
        start = i
        while i < n and not q[i].isspace() and q[i] != '"':
            i += 1
        word = q[start:i]
        found.append(_OR if word.lower() == "or" and not negated else _Term(word, negated))
    return found


def _quoted(text: str) -> str:
    """An FTS5 string: its words are a phrase, and nothing in it is an operator."""
    return '"' + text.replace("\x00", " ").replace('"', '""') + '"'


def translate(q: str) -> Fts5Query:
    """The FTS5 query for a web-style search, read as websearch_to_tsquery reads it: `or`
    separates alternatives, each the AND of the terms between (so `a b or c` is `(a AND b) OR
    c`); an `or` at either end, or beside another, is ignored, as is a term with no word in it.

    An alternative of exclusions alone (`-cats`) is every article but those: FTS5 has no NOT
    without a left side, so those go into `exclude`, the articles none of them may match (the
    alternatives `-a -b` and `-c` leave out what matches (a OR b) AND c)."""
    alternatives: list[tuple[list[str], list[str]]] = [([], [])]
    for token in _tokens(q):
        if token is _OR:
            if alternatives[-1] != ([], []):
                alternatives.append(([], []))
            continue
        assert isinstance(token, _Term)
        wanted, excluded = alternatives[-1]
        if token.negated or token.phrase:  # one term: `-foo:bar` leaves out the phrase foo bar
            if _has_word(token.text):
                (excluded if token.negated else wanted).append(_quoted(token.text))
        else:
            wanted.extend(_quoted(word) for word in _words(token.text))
    matched = [
        " AND ".join(wanted) + "".join(f" NOT {e}" for e in excluded)
        for wanted, excluded in alternatives
        if wanted
    ]
    left_out = [
        " OR ".join(excluded) for wanted, excluded in alternatives if excluded and not wanted
    ]
    return Fts5Query(_either(matched, " OR "), _either(left_out, " AND "))


def _either(parts: list[str], operator: str) -> str | None:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return operator.join(f"({part})" for part in parts)
