"""How each spider's runs went, from ``crawl_runs``: what ``scrapy status`` shows and a health check asks.

A run's verdict is its ``result`` (the ``crawl`` command's: ``ok``, the problem, ``killed``); a row
without one is ``running`` while unfinished, else judged by its finish reason. A spider is failing
when its latest finished run did not work.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from mayadeen.extensions.run_outcome import OK_REASONS, PAUSED
from mayadeen.record import TIMESTAMP_FORMAT
from mayadeen.store.engines import SQLITE, StoreTarget
from mayadeen.store.interface import Store

RUNNING = "running"
#: Rows read per spider: enough to count a long series of failed runs.
LOOK_BACK = 100
#: A field whose coverage fell by more than this between the last two runs with records is named.
COVERAGE_DROP = 0.05


def verdict(run: dict[str, Any]) -> str:
    if run.get("result"):
        return run["result"]
    if not run.get("finished_at"):
        return RUNNING
    reason = run.get("finish_reason") or "unknown"
    return "ok" if reason in OK_REASONS else reason


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    started, ended = (datetime.strptime(t, TIMESTAMP_FORMAT).replace(tzinfo=UTC) for t in (start, end))
    return (ended - started).total_seconds()


def spider_status(runs: list[dict[str, Any]], trend: int) -> dict[str, Any]:
    """One spider's status from its runs, newest first. A paused run (stopped by a signal with a
    JOBDIR; the next run resumes it) is no failure, and its coverage, of part of a crawl, is not
    compared with a whole run's."""
    finished = [r for r in runs if verdict(r) != RUNNING]
    last = finished[0] if finished else runs[0]
    in_a_row = 0
    for run in finished:
        if verdict(run) == "ok":
            break
        in_a_row += verdict(run) != PAUSED
    covered = [
        r
        for r in finished
        if verdict(r) != PAUSED and isinstance(r.get("coverage"), dict) and r["coverage"].get("records")
    ]
    return {
        "last_run": {
            "id": last["id"],
            "result": verdict(last),
            "finish_reason": last.get("finish_reason"),
            "started_at": last["started_at"],
            "finished_at": last.get("finished_at"),
            "duration_seconds": _seconds(last["started_at"], last.get("finished_at")),
            "items": {k: last.get(f"items_{k}") for k in ("new", "updated", "unchanged", "dropped", "seen")},
            "errors": last.get("errors"),
            "monitors_failed": [m["monitor"] for m in last.get("monitors_failed") or []],
        },
        "running": [r["id"] for r in runs if verdict(r) == RUNNING],
        "failed": bool(finished) and verdict(last) not in ("ok", PAUSED),
        "failed_in_a_row": in_a_row,
        "coverage_trend": [
            {
                "run": r["id"],
                "records": r["coverage"]["records"],
                "below_minimum": r["coverage"].get("below_minimum") or [],
            }
            for r in covered[:trend]
        ],
        "coverage_falling": _falling(covered),
    }


def _falling(covered: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Fields whose share fell between the last two runs with records: ``{field: [before, now]}``."""
    if len(covered) < 2:
        return {}
    now, before = covered[0]["coverage"].get("fields", {}), covered[1]["coverage"].get("fields", {})
    return {f: [before[f], share] for f, share in now.items() if f in before and before[f] - share > COVERAGE_DROP}


def store_status(store: Store, target: StoreTarget, trend: int = 5) -> dict[str, Any]:
    """Every spider's status, the failing items and the store's size."""

    def read() -> dict[str, Any]:
        tables = store.tables()
        spiders = [r["spider"] for r in store.rows("SELECT DISTINCT spider FROM crawl_runs ORDER BY spider")]
        by_spider = {}
        for spider in spiders:
            rows = store.rows(
                "SELECT * FROM crawl_runs WHERE spider = $1 ORDER BY id DESC LIMIT $2", (spider, LOOK_BACK)
            )
            runs = [
                {k: store.from_json(v) if k in ("coverage", "monitors_failed") else v for k, v in r.items()}
                for r in rows
            ]
            by_spider[spider] = spider_status(runs, trend)
        failing = store.row("SELECT count(*) AS n FROM failing_items")["n"] if "failing_items" in tables else 0
        return {"spiders": by_spider, "failing_items": failing, "articles": store.count(), "store_bytes": size()}

    def size() -> int:
        if target.engine == SQLITE:
            return sum(os.path.getsize(p) for p in (target.location, target.location + "-wal") if os.path.exists(p))
        return store.row("SELECT pg_database_size(current_database()) AS size")["size"]

    status = store.read(read)
    status["store"] = str(target)
    return status


_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_max_ages(texts: list[str], spiders: list[str]) -> dict[str, float]:
    """``--max-age SPIDER=AGE`` options (``feed=2h``: ``s``, ``m``, ``h``, ``d`` or seconds) ->
    ``{"feed": 7200.0}``, for the ``spiders`` that record their runs; a ``ValueError`` that says what
    is wrong."""
    ages: dict[str, float] = {}
    for text in texts:
        spider, _, age = (part.strip() for part in text.partition("="))
        unit = _UNITS.get(age[-1:], 0)
        try:
            seconds = float(age[:-1] if unit else age) * (unit or 1)
        except ValueError:
            seconds = -1.0
        if not spider or not 0 < seconds < float("inf"):
            raise ValueError(f"--max-age {text}: takes SPIDER=AGE, AGE a positive number of s, m, h or d (feed=2h)")
        if spider not in spiders:
            raise ValueError(
                f"--max-age {text}: {spider!r} is none of the spiders that record runs ({', '.join(spiders)})"
            )
        if spider in ages:
            raise ValueError(f"--max-age {text}: {spider} is given twice")
        ages[spider] = seconds
    return ages


def age_text(seconds: float) -> str:
    """``7200`` -> ``2h``, ``129600`` -> ``36h``, ``90`` -> ``90s``: the largest unit that divides it."""
    unit = next(u for u, n in _UNITS.items() if seconds % n == 0 or u == "s")
    return f"{seconds / _UNITS[unit]:g}{unit}"


def stale_spiders(status: dict[str, Any], max_ages: dict[str, float], now: datetime) -> dict[str, Any]:
    """The spiders of ``max_ages`` whose last run finished longer ago than their age, or that never
    finished one: ``{spider: {"max_age_seconds": …, "last_finished_at": … or None}}``. The check of a
    scheduled job that stopped running (a timer disabled, a machine down), which no run can report."""
    stale = {}
    for spider, age in max_ages.items():
        last = ((status["spiders"].get(spider) or {}).get("last_run") or {}).get("finished_at")
        since = _seconds(last, now.strftime(TIMESTAMP_FORMAT)) if last else None
        if since is None or since > age:
            stale[spider] = {"max_age_seconds": age, "last_finished_at": last}
    return stale


def describe(status: dict[str, Any]) -> str:
    """The status as lines of text."""
    lines = [
        (
            f"store {status['store']}: {status['articles']} articles, {status['store_bytes'] / 1e6:.1f} MB,"
            f" {status['failing_items']} failing item{'' if status['failing_items'] == 1 else 's'}"
        )
    ]
    if not status["spiders"]:
        lines.append("no runs yet")
    for spider, s in status["spiders"].items():
        run = s["last_run"]
        duration = run["duration_seconds"]
        items = ", ".join(f"{k} {v}" for k, v in run["items"].items() if v is not None)
        lines.append(
            f"{spider}: {run['result'].upper() if s['failed'] else run['result']} (run {run['id']},"
            f" finished {run['finished_at'] or '-'}, {'%.0f s' % duration if duration is not None else '?'};"
            f" items {items or '-'}; errors {run['errors'] if run['errors'] is not None else '-'})"
        )
        if s["failed_in_a_row"]:
            lines.append(f"  failed runs in a row: {s['failed_in_a_row']}")
        if run["monitors_failed"]:
            lines.append(f"  monitors failed: {', '.join(run['monitors_failed'])}")
        if s["running"]:
            lines.append(f"  running: run {', '.join(map(str, s['running']))}")
        if s["coverage_trend"]:
            lines.append(
                "  coverage: "
                + "; ".join(
                    f"run {c['run']} {c['records']} records " + (", ".join(c["below_minimum"]) or "ok")
                    for c in s["coverage_trend"]
                )
            )
        for field, (before, now) in s["coverage_falling"].items():
            lines.append(f"  coverage of {field} fell from {before:.0%} to {now:.0%}")
    for spider, stale in status.get("stale", {}).items():
        last = stale["last_finished_at"]
        lines.append(
            f"{spider}: STALE, {'last run finished ' + last if last else 'no finished run'}: expected one"
            f" within {age_text(stale['max_age_seconds'])} (--max-age)"
        )
    return "\n".join(lines)
