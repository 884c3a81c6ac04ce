"""Full-text search of the stored articles and breaking-news flashes, on either engine.

One query language on both, web-search style (PostgreSQL's ``websearch_to_tsquery``): words (every
one must match), ``"a phrase"``, ``OR`` between alternatives, ``-word`` to exclude. Each engine
answers with its own index, so this is the one module with SQL of one engine:

- SQLite: the FTS5 indexes ``articles_fts`` and ``breaking_fts`` (``mayadeen.store.fts``), ranked by
  ``bm25`` with the headline weighing most, passages by ``snippet``. Words match as written
  (``unicode61``: case and accents ignored, no stemming).
- PostgreSQL: the generated ``search`` tsvector columns and their GIN indexes
  (``mayadeen.store.postgres_schema``), ranked by ``ts_rank`` (headline A, summary and tags B, body
  D), passages by ``ts_headline``. Words match by their English stem (``edits`` finds ``edited``), and
  stop words (``the``, ``of``) are ignored.

A revision or an edited flash is searched by its new text at once (triggers on SQLite, generated
columns on PostgreSQL). Matched words in a passage are between ``[`` and ``]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mayadeen.store.engines import POSTGRESQL
from mayadeen.store.fts import ARTICLES_FTS, BREAKING_FTS
from mayadeen.store.interface import Store
from mayadeen.store.read import Selection

DEFAULT_LIMIT = 20
START, STOP = "[", "]"
#: bm25 weights of ``articles_fts``'s columns (headline, summary, body, tags): PostgreSQL's A, B, D, B.
_BM25_WEIGHTS = {"headline": 10.0, "summary": 5.0, "body": 1.0, "tags": 5.0}
_TS_HEADLINE = f"StartSel={START}, StopSel={STOP}, MaxFragments=1, MaxWords=24, MinWords=12"
_TERM = re.compile(r'-?"[^"]*"?|\S+')

_SQL = {
    ("articles", "sqlite"): (
        f"SELECT a.url, a.headline, a.date_published,"
        f" snippet({ARTICLES_FTS.name}, -1, '{START}', '{STOP}', '…', 24) AS snippet"
        f" FROM {ARTICLES_FTS.name} JOIN articles a ON a.rowid = {ARTICLES_FTS.name}.rowid"
        f" WHERE {ARTICLES_FTS.name} MATCH $1 AND {{where}}"
        f" ORDER BY bm25({ARTICLES_FTS.name}, {', '.join(str(_BM25_WEIGHTS[c]) for c in ARTICLES_FTS.columns)}),"
        " a.url LIMIT ${limit}"
    ),
    ("articles", "postgresql"): (
        "WITH query AS (SELECT websearch_to_tsquery('english', $1) AS q),"
        " top AS (SELECT a.url, a.headline, a.date_published, concat_ws(' ', a.headline, a.summary, a.body) AS text,"
        " ts_rank(a.search, query.q) AS rank FROM articles a, query WHERE a.search @@ query.q AND {where}"
        " ORDER BY rank DESC, a.url LIMIT ${limit})"
        f" SELECT top.url, top.headline, top.date_published, ts_headline('english', top.text, query.q,"
        f" '{_TS_HEADLINE}') AS snippet FROM top, query ORDER BY top.rank DESC, top.url"
    ),
    ("flashes", "sqlite"): (
        f"SELECT b.time, b.text, b.article_url, highlight({BREAKING_FTS.name}, 0, '{START}', '{STOP}') AS snippet"
        f" FROM {BREAKING_FTS.name} JOIN breaking_news b ON b.id = {BREAKING_FTS.name}.rowid"
        f" WHERE {BREAKING_FTS.name} MATCH $1 AND {{where}}"
        f" ORDER BY bm25({BREAKING_FTS.name}), b.time DESC, b.id LIMIT ${{limit}}"
    ),
    ("flashes", "postgresql"): (
        "WITH query AS (SELECT websearch_to_tsquery('english', $1) AS q),"
        " top AS (SELECT b.id, b.time, b.text, b.article_url, ts_rank(b.search, query.q) AS rank"
        " FROM breaking_news b, query WHERE b.search @@ query.q AND {where}"
        " ORDER BY rank DESC, b.time DESC, b.id LIMIT ${limit})"
        f" SELECT top.time, top.text, top.article_url, ts_headline('english', top.text, query.q,"
        f" 'StartSel={START}, StopSel={STOP}, HighlightAll=true') AS snippet"
        " FROM top, query ORDER BY top.rank DESC, top.time DESC, top.id"
    ),
}


@dataclass(frozen=True)
class ArticleHit:
    url: str
    headline: str | None
    date_published: str | None
    #: The best passage (SQLite: of the best column; PostgreSQL: of headline, summary and body).
    snippet: str


@dataclass(frozen=True)
class FlashHit:
    time: str
    text: str
    article_url: str | None
    #: The text with the matched words marked.
    snippet: str


def fts5_query(query: str) -> str:
    """A web-search query as an FTS5 expression: every word or phrase quoted (no FTS5 syntax gets
    through), ``OR`` kept, ``-word`` as ``NOT``; empty when nothing in it can match."""
    parts: list[str] = []
    for token in _TERM.findall(query):
        if token.upper() == "OR":
            if parts and parts[-1] != "OR":
                parts.append("OR")
            continue
        excluded = token.startswith("-") and len(token) > 1
        words = token[1:] if excluded else token
        words = words.strip('"')
        if not any(ch.isalnum() for ch in words):
            continue
        quoted = '"' + words.replace('"', '""') + '"'
        if excluded:  # FTS5's NOT needs something on its left
            if parts and parts[-1] != "OR":
                parts.append(f"NOT {quoted}")
        else:
            parts.append(quoted)
    while parts and parts[-1] == "OR":
        parts.pop()
    return " ".join(parts)


def _search(store: Store, what: str, query: str, limit: int, where: tuple[str, list[Any]]) -> list[dict[str, Any]]:
    if store.engine != POSTGRESQL:
        query = fts5_query(query)
        if not query:
            return []
    condition, params = where  # numbered from $2: the query is $1, the limit after them
    statement = _SQL[what, store.engine].format(where=condition, limit=2 + len(params))
    return store.read(lambda: store.rows(statement, (query, *params, limit)))


def search(
    store: Store, query: str, limit: int = DEFAULT_LIMIT, selection: Selection | None = None
) -> list[ArticleHit]:
    """The stored articles matching ``query``, best first (a match in the headline ranks highest);
    ``selection``: only items published on those Beirut days, of those sections or kinds."""
    where = (selection or Selection()).where("a", start=2)
    return [ArticleHit(**row) for row in _search(store, "articles", query, limit, where)]


def search_flashes(
    store: Store, query: str, limit: int = DEFAULT_LIMIT, selection: Selection | None = None
) -> list[FlashHit]:
    """The breaking-news flashes matching ``query``, best first, then newest first; ``selection``:
    only flashes dated on its Beirut days (flashes have no section or kind)."""
    days = (selection or Selection()).where_days("b.time", start=2)
    return [FlashHit(**row) for row in _search(store, "flashes", query, limit, days)]
