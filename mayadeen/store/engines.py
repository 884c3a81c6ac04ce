"""Which store a crawl uses, and opening it: a SQLite file or a PostgreSQL database.

``MAYADEEN_STORE_URL`` names the store: ``sqlite:///relative/path.sqlite``,
``sqlite:////absolute/path.sqlite`` or ``postgresql://user[:password]@host[:port]/database``
(``postgres://`` too; libpq parameters such as ``?sslmode=require`` pass through). When it is set it
replaces ``MAYADEEN_SQLITE_PATH``, which stays as the shorthand for a SQLite file. Both engines
implement ``mayadeen.store.interface.Store``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mayadeen.store.model import POSTGRESQL, SQLITE, StoreTarget

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "StoreTarget",
    "connect",
    "parse_store",
    "parse_store_url",
    "store_errors",
    "store_target",
]
TAKES = "takes sqlite:///path/to/file.sqlite or postgresql://user@host:port/database"


def parse_store_url(url: str) -> StoreTarget:
    """The store a ``MAYADEEN_STORE_URL`` names; ValueError (one line, without the password) if none."""
    text = url.strip()
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme == SQLITE:
        path = text[len("sqlite:///") :] if text[: len("sqlite:///")].lower() == "sqlite:///" else ""
        if not path.strip() or "?" in path:
            raise ValueError(f"{TAKES} (a sqlite URL needs a file path after sqlite:///, nothing after it)")
        return StoreTarget(SQLITE, path)
    if scheme in ("postgresql", "postgres"):
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError(f"{TAKES} (the port is not a number)") from None
        if not parts.hostname or not parts.path.strip("/") or "/" in parts.path.strip("/"):
            raise ValueError(f"{TAKES} (a postgresql URL needs a host and a database name)")
        return StoreTarget(POSTGRESQL, text)
    raise ValueError(TAKES)


def store_target(settings) -> StoreTarget | None:
    """The crawl's store: ``MAYADEEN_STORE_URL``, else the ``MAYADEEN_SQLITE_PATH`` file; None if both are empty."""
    url = (settings.get("MAYADEEN_STORE_URL") or "").strip()
    if url:
        return parse_store_url(url)
    path = (settings.get("MAYADEEN_SQLITE_PATH") or "").strip()
    return StoreTarget(SQLITE, path) if path else None


def parse_store(text: str) -> StoreTarget:
    """A store named on a command line: a store URL, or a SQLite file's path; ValueError (one line) if neither."""
    if "://" in text and text.split("://", 1)[0].isalpha():
        return parse_store_url(text)
    if not text.strip():
        raise ValueError(TAKES + ", or a SQLite file's path")
    return StoreTarget(SQLITE, text)


def store_errors(target: StoreTarget) -> tuple[type[BaseException], ...]:
    """What opening or reading the store at ``target`` raises when the store fails (with OSError)."""
    if target.engine == POSTGRESQL:
        from mayadeen.store.postgres import PostgresStore

        return (OSError, *PostgresStore.errors)
    from mayadeen.store.sqlite import ArticleStore

    return (OSError, *ArticleStore.errors)


def connect(target: StoreTarget, *, readonly: bool = False, busy_timeout: float = 60.0, retry_timeout: float = 60.0):
    """The store at ``target``, opened (created or upgraded unless ``readonly``). ``busy_timeout``:
    seconds a write waits for another's lock; ``retry_timeout``: seconds a PostgreSQL store's
    reads and writes retry a server that went away."""
    if target.engine == POSTGRESQL:
        from mayadeen.store.postgres import PostgresStore  # psycopg is only needed for PostgreSQL

        return PostgresStore(target.location, readonly=readonly, lock_timeout=busy_timeout, retry_timeout=retry_timeout)
    from mayadeen.store.sqlite import ArticleStore

    return ArticleStore(target.location, readonly=readonly, busy_timeout=busy_timeout)
