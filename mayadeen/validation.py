"""Spider arguments and ``MAYADEEN_*`` settings, parsed and checked before a crawl sends anything.

A wrong value is a ``UsageProblem``: one line that names the argument or setting, what it was given
and what it takes. The ``crawl`` command (``mayadeen.commands.crawl``) checks everything before the
crawler is built and exits 2 on the first problem; the spiders parse their arguments with the same
functions, so a crawl started another way (a script, Scrapyd) refuses the same values. Setting names
outside the ``MAYADEEN_`` prefix are judged by ``mayadeen.setting_names`` (a near miss of the prefix
is a UsageProblem too).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from mayadeen.urls import PUBLIC_URL

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off", "")
FLAG_TAKES = "1 or 0 (also true/false, yes/no, on/off)"


class UsageProblem(ValueError):
    """A spider argument or a setting the crawl cannot run with (the message is one line)."""


def closest(name: str, names) -> str:
    """`` (did you mean X?)`` for the nearest of ``names``, or an empty string."""
    match = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


# --- values -------------------------------------------------------------------------------------


def parse_flag(label: str, value: Any) -> bool:
    """A boolean: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise UsageProblem(f"{label}={value}: takes {FLAG_TAKES}")


def parse_origin(label: str, value: Any) -> str | None:
    """An absolute http(s) origin (``http://127.0.0.1:8000``), normalised without a trailing slash;
    None for an empty value. A path, query, fragment or user name is refused: it would be dropped."""
    text = str(value or "").strip()
    if not text:
        return None
    takes = "takes an absolute http(s) origin such as http://127.0.0.1:8000"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise UsageProblem(f"{label}={value}: {takes}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in text:
        raise UsageProblem(f"{label}={value}: {takes}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise UsageProblem(f"{label}={value}: {takes} (no path, query or user name)")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}"


def parse_day(label: str, value: Any) -> date | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageProblem(f"{label}={value}: takes a day as YYYY-MM-DD, e.g. 2025-07-31") from None


def parse_number(
    label: str,
    value: Any,
    *,
    least: float = 0.0,
    most: float | None = None,
    integer: bool = False,
    above: bool = False,
) -> float:
    """A number within its range (``above``: greater than ``least``, not equal); else UsageProblem
    naming the value given and the range, worded the same whatever was wrong with the value."""
    try:
        number = int(str(value).strip()) if integer else float(value)
    except (TypeError, ValueError):
        number = None
    low_ok = number is not None and (number > least if above else number >= least)
    if not low_ok or number != number or (most is not None and number > most):
        raise UsageProblem(f"{label}={value}: takes {number_range(least, most, integer=integer, above=above)}")
    return number


def number_range(least: float, most: float | None = None, *, integer: bool = False, above: bool = False) -> str:
    """``a number from 0 to 1``, ``a whole number of at least 1``, ``a number above 0``: one wording per range."""
    kind = "a whole number" if integer else "a number"
    if above:
        return f"{kind} above {least:g}" + (f" and at most {most:g}" if most is not None else "")
    return f"{kind} from {least:g} to {most:g}" if most is not None else f"{kind} of at least {least:g}"


# --- spider arguments ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Argument:
    """One ``-a name=value`` a spider takes: its parser and, for messages, what it means."""

    parse: Callable[[str, Any], Any]
    help: str


def parse_arguments(spider: str, accepted: Mapping[str, Argument], given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` (``-a`` values) parsed by ``accepted``; UsageProblem for an unknown name or a bad value.

    Names starting with ``_`` are Scrapyd's (``_job``) and are passed through untouched.
    """
    values: dict[str, Any] = {}
    for name, raw in given.items():
        if name.startswith("_"):
            continue
        argument = accepted.get(name)
        if argument is None:
            raise UsageProblem(
                f"-a {name}={raw}: spider {spider} has no argument {name}{closest(name, accepted)};"
                f" it takes {', '.join(sorted(accepted))}"
            )
        values[name] = argument.parse(f"-a {name}", raw)
    return values


class SpiderArguments:
    """Mixin for a spider that declares its ``-a`` arguments in ``arguments``: they are parsed when the
    spider is made (``argument_values``) and the ``crawl`` command checks them before anything starts."""

    arguments: Mapping[str, Argument] = {}

    def __init__(self, *args, **kwargs):
        self.argument_values = self.parse_arguments(kwargs)
        super().__init__(*args, **{k: v for k, v in kwargs.items() if k.startswith("_")})

    @classmethod
    def parse_arguments(cls, given) -> dict[str, Any]:
        """The ``-a`` values parsed, or ``UsageProblem`` naming the first one this spider cannot take."""
        return parse_arguments(cls.name, cls.arguments, given)


# --- settings -----------------------------------------------------------------------------------


def _origin_setting(settings, name: str) -> None:
    parse_origin(f"-s {name}", settings.get(name))


def _public_url(settings, name: str) -> None:
    """The site's identity (every URL requested, stored and written is on it): only its own value."""
    if parse_origin(f"-s {name}", settings.get(name)) != PUBLIC_URL:
        raise UsageProblem(
            f"-s {name}={settings.get(name)}: the site's identity is always {PUBLIC_URL} (every"
            " URL requested, stored and written is on it); to fetch from another host use"
            " -a base_url or MAYADEEN_BASE_URL"
        )


def _flag_setting(settings, name: str) -> None:
    parse_flag(f"-s {name}", settings.get(name))


def _number(least: float = 0.0, most: float | None = None, integer: bool = False, positive: bool = False):
    """``positive``: above 0 (0 itself refused)."""

    def check(settings, name: str) -> None:
        parse_number(f"-s {name}", settings.get(name), least=least, most=most, integer=integer, above=positive)

    return check


def _number_or_default(settings, name: str) -> None:
    """A number, or None/empty for the setting's computed default."""
    if settings.get(name) not in (None, ""):
        _number()(settings, name)


def _text(settings, name: str) -> None:
    if not isinstance(settings.get(name) or "", str):
        raise UsageProblem(f"-s {name}={settings.get(name)!r}: takes a path (or an empty value)")


def _store_url(settings, name: str) -> None:
    from mayadeen.store.engines import parse_store_url

    value = settings.get(name) or ""
    if not isinstance(value, str):
        raise UsageProblem(f"-s {name}={value!r}: takes a store URL (or an empty value)")
    if value.strip():
        try:
            target = parse_store_url(value)
        except ValueError as exc:
            raise UsageProblem(f"-s {name}: {exc}") from None
        if target.engine == "postgresql":
            try:
                import psycopg  # noqa: F401 - the driver must be there before the crawl starts
            except ImportError:
                raise UsageProblem(
                    f"-s {name}: a PostgreSQL store needs psycopg (pip install 'psycopg[binary]')"
                ) from None


def _names(settings, name: str) -> None:
    try:
        names = settings.getlist(name)
    except (TypeError, ValueError):
        names = None
    if names is None or not all(isinstance(n, str) and n.strip() and "=" not in n for n in names):
        raise UsageProblem(f"-s {name}={settings.get(name)}: takes comma-separated query parameter names")


def _coverage(settings, name: str) -> None:
    from mayadeen.extensions.coverage import FIELDS, RECORD  # the record's fields

    try:
        minimum = settings.getdict(name)
    except (TypeError, ValueError):
        raise UsageProblem(f"-s {name}: takes a JSON object of field -> share (0-1) or {{kind: share}}") from None
    for field, want in minimum.items():
        if field not in FIELDS and field != RECORD:
            raise UsageProblem(f"-s {name}: {field} is not a record field{closest(field, FIELDS)}")
        for share in want.values() if isinstance(want, Mapping) else [want]:
            parse_number(f"-s {name} {field}", share, most=1.0)


#: How each of our settings is checked (a name not listed here is only checked for being known).
SETTING_CHECKS: dict[str, Callable[[Any, str], None]] = {
    "MAYADEEN_BASE_URL": _origin_setting,
    "MAYADEEN_PUBLIC_URL": _public_url,
    "MAYADEEN_SQLITE_PATH": _text,
    "MAYADEEN_STORE_URL": _store_url,
    "MAYADEEN_STORE_RETRY_TIMEOUT": _number(),
    "MAYADEEN_STORE_REACTOR_TIMEOUT": _number(),
    "MAYADEEN_REDIS_LEASE_TTL": _number(positive=True),
    "MAYADEEN_REDIS_RETRY_TIMEOUT": _number_or_default,
    "MAYADEEN_REDIS_MAX_LEASE_EXPIRIES": _number(least=0, integer=True),
    "MAYADEEN_JSONL_PATH": _text,
    "MAYADEEN_BREAKING_JSONL_PATH": _text,
    "MAYADEEN_CHROMIUM_PATH": _text,
    "MAYADEEN_SQLITE_BUSY_TIMEOUT": _number(),
    "MAYADEEN_JOURNAL_MAX_LINES": _number(least=1, integer=True),
    "MAYADEEN_JOBDIR_STUCK_AFTER": _number(least=0),
    "MAYADEEN_MAX_KILLS_IN_FLIGHT": _number(least=0, integer=True),
    "MAYADEEN_MAX_SITEMAP_URLS": _number(integer=True),
    "MAYADEEN_MAX_QUEUED_REQUESTS": _number(integer=True),
    "MAYADEEN_MAX_TICKER_FLASHES": _number(integer=True),
    "MAYADEEN_TRACKING_PARAMS": _names,
    "MAYADEEN_MAX_DROPPED_SHARE": _number(most=1.0),
    "MAYADEEN_MAX_GIVEN_UP_SHARE": _number(most=1.0),
    "MAYADEEN_RENDER_TIMEOUT": _number(positive=True),
    "MAYADEEN_CHALLENGE_TIMEOUT": _number(positive=True),
    "MAYADEEN_RETRY_BACKOFF_BASE": _number(),
    "MAYADEEN_RETRY_BACKOFF_MAX": _number(),
    "MAYADEEN_RETRY_BACKOFF_JITTER": _number(most=1.0),
    "MAYADEEN_RETRY_AFTER_MAX": _number(),
    "MAYADEEN_COVERAGE_MIN": _coverage,
    "MAYADEEN_COVERAGE_MIN_PAGES": _number(integer=True),
    "MAYADEEN_PROGRESS_INTERVAL": _number(),
    "MAYADEEN_MIN_FREE_SPACE_MB": _number(),
    "MAYADEEN_FAILING_RETRY_INTERVAL": _number(positive=True),
    "MAYADEEN_FAILING_RETRY_INTERVAL_MAX": _number(positive=True),
    "MAYADEEN_INTEGRITY_ENABLED": _flag_setting,
    "MAYADEEN_RETRY_AFTER_ENABLED": _flag_setting,
    "MAYADEEN_COVERAGE_ENABLED": _flag_setting,
    "MAYADEEN_REQUIRE_BROWSER": _flag_setting,
    "MAYADEEN_MONITOR_HISTORY_RUNS": _number(least=1, integer=True),
    "MAYADEEN_MONITOR_HISTORY_MIN_RUNS": _number(least=1, integer=True),
    "MAYADEEN_MONITOR_ITEM_COUNT_RATIO": _number(most=1.0),
    "MAYADEEN_MONITOR_MAX_UNWANTED_SHARE": _number(most=1.0),
    "MAYADEEN_MONITOR_MIN_UNWANTED": _number(integer=True),
    "MAYADEEN_MONITOR_MAX_ERRORS": _number(integer=True),
    "MAYADEEN_MONITOR_TICKER_MAX_AGE": _number(positive=True),
    "MAYADEEN_ALERT_SMTP_PORT": _number(least=1, most=65535, integer=True),
    "MAYADEEN_ALERT_TIMEOUT": _number(positive=True),
    "MAYADEEN_METRICS_FILE": _text,
    "MAYADEEN_METRICS_PORT": _number(most=65535, integer=True),
}


def known_settings() -> set[str]:
    """Every ``MAYADEEN_*`` name the project defines (settings.py) or checks."""
    from mayadeen import settings as project

    return {name for name in vars(project) if name.startswith("MAYADEEN_")} | set(SETTING_CHECKS)


def check_settings(settings) -> None:
    """UsageProblem for the first ``MAYADEEN_*`` setting that is unknown or has a value it cannot take,
    a command-line name that misspells the ``MAYADEEN_`` prefix, or JOBDIR in distributed mode."""
    from mayadeen.setting_names import check_project_prefix

    check_project_prefix(settings)
    known = known_settings()
    for name in sorted(n for n in settings if n.startswith("MAYADEEN_")):
        if name not in known:
            raise UsageProblem(f"-s {name}: no such setting{closest(name, known)}")
    for name, check in SETTING_CHECKS.items():
        if name in settings:
            check(settings, name)
    check_jobdir_with_redis(settings)


def check_jobdir_with_redis(settings) -> None:
    """A JOBDIR would be a second, diverging copy of the state Redis holds in distributed mode."""
    if settings.get("MAYADEEN_REDIS_URL") and settings.get("JOBDIR"):
        raise UsageProblem(
            f"-s JOBDIR={settings.get('JOBDIR')} cannot be used with MAYADEEN_REDIS_URL: Redis holds"
            " the crawl's state (a stopped crawl is continued by starting its workers again);"
            " drop -s JOBDIR"
        )
