"""Datasette plugin: the search box takes the query language of ``scrapy search``.

Datasette's table search (``?_search=``) passes the query through the SQL function ``escape_fts``,
which quotes every word, so ``"a phrase" OR famine -football`` finds nothing. This plugin registers
``escape_fts`` again, as ``mayadeen.store.search.fts5_query``, the translation ``scrapy search``
uses on SQLite: the same query gives the same items in both. ``trylast``: Datasette's own
``escape_fts`` is registered first, and replaced.

    datasette data/mayadeen.sqlite --metadata datasette/metadata.json --plugins-dir datasette/plugins

Run it from the repository (or with it on ``PYTHONPATH``): it imports ``mayadeen``.
"""

from datasette import hookimpl
from mayadeen.store.search import fts5_query

#: What a query with nothing searchable in it becomes: an empty phrase, which matches no row.
NOTHING = '""'


def web_search(query: str | None) -> str:
    return fts5_query(query or "") or NOTHING


@hookimpl(trylast=True)
def prepare_connection(conn):
    conn.create_function("escape_fts", 1, web_search, deterministic=True)
