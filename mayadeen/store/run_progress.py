"""A run's ``crawl_runs`` row while the run goes on: who runs it, its figures so far, how it ended.

Columns added to ``crawl_runs`` after its first version:

``pid``, ``host``
    the process that runs the crawl, so that the next run can tell a crawl that is still running
    from one that was killed (SIGKILL, OOM, power cut) and never finished its row;
``updated_at``
    when the row's figures were last brought up to date (every ``MAYADEEN_PROGRESS_INTERVAL``);
``result``
    ``ok``, or why the run failed (the ``crawl`` command's verdict, the same as its summary line);
    ``killed`` for a run the next run found dead;
``items_seen``
    the items discovery showed, fetched or skipped as unchanged (``mayadeen/fresh/*``): what an
    incremental run and a full one have alike, so runs can be compared (``mayadeen.monitors``); NULL
    when discovery left parts of the site unread (unchanged monthly sitemaps);
``monitors_failed``
    the monitors that failed (JSON list of ``{"monitor", "message", "figures", "fails_run"}``), ``[]``
    when every monitor passed at the end of the run (``mayadeen.monitors``).

The store engines read and write the row (``mayadeen.store.interface.Store``); a store from
before these columns gets them from its migrations (``mayadeen.store.schema``).
"""

from __future__ import annotations

import os
import socket

from mayadeen.processes import is_running

COLUMNS = {
    "pid": "INTEGER",
    "host": "TEXT",
    "updated_at": "TEXT",
    "result": "TEXT",
    "items_seen": "INTEGER",
    "monitors_failed": "TEXT",
}
#: The result and finish reason of a run that died without closing its row.
KILLED = "killed"
#: The figures ``update_run`` may set (column names never come from the caller's strings).
FIGURES = frozenset(
    {
        "items_new",
        "items_updated",
        "items_unchanged",
        "items_dropped",
        "items_seen",
        "requests",
        "errors",
        "monitors_failed",
    }
)


def _alive(pid: int | None) -> bool:
    if not pid or pid == os.getpid():
        return False  # our pid on another run's row: that run's process is gone
    return is_running(pid)


def died(pid: int | None, host: str | None) -> bool:
    """Whether the process of an unfinished run is gone (unknown host: gone; another host: unknowable)."""
    return host is None or (host == socket.gethostname() and not _alive(pid))
