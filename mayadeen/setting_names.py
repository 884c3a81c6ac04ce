"""Setting names given on the command line (``-s NAME=VALUE``) that nothing reads: typos, caught.

Scrapy keeps any name it is given, so ``-s DOWNLOAD_DELAI=0`` is silently ignored and the crawl runs
with the polite default. A name is known when Scrapy's default settings, the project's settings
module, or an installed add-on (scrapy-playwright, Spidermon: ``ADDON_SETTINGS``)
defines it. An unknown name

* that is a near miss of the project's prefix (``MAYADEN_…``, ``MAYDEEN_…``) or whose closest known
  name is one of ours is a usage error (``check_project_prefix``, one line, exit 2), as an unknown
  ``MAYADEEN_*`` name already is (``mayadeen.validation``): our settings are checked strictly;
* is otherwise a WARNING naming the closest known name, and the crawl goes on (``SettingNamesAddon``):
  another add-on of the user's may read it.
"""

from __future__ import annotations

import difflib
import logging
from functools import cache
from importlib.util import find_spec

from scrapy import signals
from scrapy.settings import SETTINGS_PRIORITIES, default_settings

from mayadeen.validation import UsageProblem, known_settings

logger = logging.getLogger(__name__)

PROJECT_PREFIX = "MAYADEEN_"
#: Least ``difflib`` likeness of a name's first word to ``MAYADEEN`` for a near miss (``MAYADEN``,
#: ``MAYDEEN``, ``MAYADEEEN``: 0.93; two letters off such as ``MAYDEN``: 0.86).
NEAR_PREFIX = 0.8
#: Installed add-ons' settings: module -> (prefixes all of whose names are its, names outside them).
ADDON_SETTINGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "scrapy_playwright": (("PLAYWRIGHT_",), ()),
    "spidermon": (("SPIDERMON_",), ()),
}
#: Least likeness for naming the project's setting a near miss meant.
MEANT = 0.75
STAT_UNKNOWN = "mayadeen/settings/unknown"


@cache
def _addons() -> tuple[tuple[str, ...], frozenset[str]]:
    """The prefixes and names of the add-ons that are installed."""
    installed = [spec for module, spec in ADDON_SETTINGS.items() if find_spec(module) is not None]
    return tuple(p for prefixes, _ in installed for p in prefixes), frozenset(
        n for _, names in installed for n in names
    )


@cache
def known_names() -> frozenset[str]:
    """Every setting name Scrapy, the project (settings.py and its checks) and the add-ons' lists define."""
    from mayadeen import settings as project

    scrapy_names = {name for name in vars(default_settings) if name.isupper()}
    return frozenset(scrapy_names | {n for n in vars(project) if n.isupper()} | known_settings() | _addons()[1])


def is_known(name: str) -> bool:
    """Whether something defines ``name`` (an add-on prefix counts for every name under it)."""
    return name in known_names() or name.startswith(_addons()[0])


def closest_name(name: str) -> str | None:
    """The known name nearest to ``name`` (difflib, as Python's own "did you mean"), or None."""
    match = difflib.get_close_matches(name, sorted(known_names()), n=1, cutoff=0.6)
    return match[0] if match else None


def command_line_names(settings) -> list[str]:
    """The names set at the command line's priority (``-s``, and the options Scrapy maps to settings)."""
    return sorted(name for name in settings if settings.getpriority(name) == SETTINGS_PRIORITIES["cmdline"])


def near_project_prefix(name: str) -> bool:
    """Whether an unknown ``name`` looks like one of ours: its first word nearly ``MAYADEEN``, or its
    closest known name a ``MAYADEEN_`` one."""
    head = name.split("_", 1)[0]
    alike = difflib.SequenceMatcher(None, head, PROJECT_PREFIX[:-1]).ratio()
    return alike >= NEAR_PREFIX or (closest_name(name) or "").startswith(PROJECT_PREFIX)


def meant_setting(name: str) -> str | None:
    """The project's setting nearest to ``name`` as written or with its first word read as ``MAYADEEN``."""
    spelled = [name, PROJECT_PREFIX + name.split("_", 1)[1]] if "_" in name else [name]
    scored = [
        (max(difflib.SequenceMatcher(None, s, ours).ratio() for s in spelled), ours)
        for ours in sorted(known_names())
        if ours.startswith(PROJECT_PREFIX)
    ]
    best = max(scored, default=(0.0, None))
    return best[1] if best[0] >= MEANT else None


def unknown_names(settings) -> list[str]:
    """Command-line names outside the project's prefix that nothing defines."""
    return [n for n in command_line_names(settings) if not n.startswith(PROJECT_PREFIX) and not is_known(n)]


def check_project_prefix(settings) -> None:
    """UsageProblem for the first command-line name that misspells the project's prefix."""
    for name in unknown_names(settings):
        if near_project_prefix(name):
            match = meant_setting(name)
            hint = f" (did you mean {match}?)" if match else ""
            raise UsageProblem(f"-s {name}: no such setting{hint}; the project's settings start with {PROJECT_PREFIX}")


def unknown_message(name: str) -> str:
    match = closest_name(name)
    hint = f"did you mean {match}?" if match else "no setting has a name close to it"
    return f"-s {name}: no such setting in Scrapy, its add-ons or this project ({hint}); it is ignored"


class SettingNamesAddon:
    """``ADDONS``: a WARNING per unknown command-line setting (stat ``mayadeen/settings/unknown``)."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def update_settings(self, settings) -> None:
        unknown = unknown_names(settings)
        for name in unknown:
            logger.warning("%s", unknown_message(name))
        if unknown:

            def count(spider) -> None:
                self.crawler.stats.set_value(STAT_UNKNOWN, len(unknown))

            self.crawler.signals.connect(count, signal=signals.spider_opened, weak=False)
