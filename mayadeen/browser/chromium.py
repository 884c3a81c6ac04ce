"""The browser for the pages that need one: which Chromium, how scrapy-playwright gets it, what it may load.

- ``find_chromium`` resolves ``MAYADEEN_CHROMIUM_PATH``: ``auto`` (the default) takes Playwright's own
  Chromium when ``playwright install chromium`` put it in place, else Debian's ``/usr/lib/chromium/chromium``;
  a path takes that executable; an empty string means no browser.
- ``BrowserAddon`` runs after the command-line settings are applied and before the download handlers are
  built: it hands the executable to scrapy-playwright, or, when there is none, puts the plain HTTP
  handlers back so that no Playwright driver starts for nothing.
- ``browser_meta`` is the request meta every browser request of ours carries: among it the page init
  callback that confines the page to its origin (``mayadeen.browser.confine``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from scrapy.settings import SETTINGS_PRIORITIES

from mayadeen.browser.contract import CHALLENGE_HOSTS, PAGE_INIT_KEY, THIRD_PARTY_KEY
from mayadeen.urls import PUBLIC_URL, origin
from mayadeen.validation import parse_origin

DEBIAN_CHROMIUM = "/usr/lib/chromium/chromium"
# scrapy-playwright's handler, accepting only renders that stayed on their origin.
PLAYWRIGHT_HANDLER = "mayadeen.browser.confine.ConfinedPlaywrightHandler"
# A proxy nobody serves (the discard port): every connection Chromium opens outside the page's routes
# (a preconnect, a popup's first requests, WebRTC over TCP) goes there and is refused.
NOWHERE_HOST = "127.0.0.1"
NOWHERE_PROXY = f"http://{NOWHERE_HOST}:9"
INSTALL_HINT = (
    "install one with `pip install playwright && playwright install chromium`, or install your "
    "distribution's Chromium (Debian/Ubuntu: `apt-get install chromium`) and set "
    "MAYADEEN_CHROMIUM_PATH=/usr/lib/chromium/chromium (or wherever its executable is)"
)
# One browser context for every browser request, so listings and challenges share its cookies. It is
# scrapy-playwright's default one: a request naming no context shares it too, and never waits forever
# for a second context under PLAYWRIGHT_MAX_CONTEXTS = 1.
CONTEXT = "default"


@dataclass(frozen=True)
class Chromium:
    """The executable to launch, or why there is none."""

    path: str | None
    origin: str  # where the path came from, or the reason there is none

    @property
    def available(self) -> bool:
        return self.path is not None


def _is_executable(path: str | Path) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def playwright_browsers_dir() -> Path:
    """Where ``playwright install`` puts its browsers (``PLAYWRIGHT_BROWSERS_PATH`` or the user cache)."""
    env = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if env == "0":
        import playwright

        return Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers"
    if env:
        return Path(env)
    if sys.platform == "darwin":
        cache = Path.home() / "Library" / "Caches"
    elif sys.platform.startswith("win"):
        cache = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "ms-playwright"


def playwright_chromium() -> str | None:
    """Playwright's own Chromium for the installed Playwright version, if it has been downloaded.

    Read from Playwright's browser registry on disk (no driver is started): the headless shell first,
    which is what Playwright itself launches for headless pages, then the full Chromium.
    """
    try:
        import playwright
    except ImportError:
        return None
    try:
        registry = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
        revisions = {b["name"]: b["revision"] for b in json.loads(registry.read_text("utf-8"))["browsers"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    root = playwright_browsers_dir()
    patterns = []
    if "chromium-headless-shell" in revisions:
        rev = revisions["chromium-headless-shell"]
        patterns += [
            f"chromium_headless_shell-{rev}/chrome-headless-shell-*/chrome-headless-shell",
            f"chromium_headless_shell-{rev}/chrome-headless-shell-*/chrome-headless-shell.exe",
        ]
    if "chromium" in revisions:
        rev = revisions["chromium"]
        patterns += [
            f"chromium-{rev}/chrome-*/chrome",
            f"chromium-{rev}/chrome-*/chrome.exe",
            f"chromium-{rev}/chrome-mac*/*.app/Contents/MacOS/*",
        ]
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if _is_executable(path):
                return str(path)
    return None


def find_chromium(setting: str | None) -> Chromium:
    """The Chromium that ``MAYADEEN_CHROMIUM_PATH`` = ``setting`` designates (None or "auto": look)."""
    if setting is None or str(setting).strip().lower() == "auto":
        own = playwright_chromium()
        if own:
            return Chromium(own, "Playwright's Chromium")
        if _is_executable(DEBIAN_CHROMIUM):
            return Chromium(DEBIAN_CHROMIUM, "Debian's chromium")
        return Chromium(None, f"no Chromium found (neither Playwright's own nor {DEBIAN_CHROMIUM})")
    setting = str(setting).strip()
    if not setting:
        return Chromium(None, "MAYADEEN_CHROMIUM_PATH is empty")
    path = setting if os.sep in setting else shutil.which(setting) or setting
    if not _is_executable(path):
        return Chromium(None, f"MAYADEEN_CHROMIUM_PATH={setting} is not an executable file")
    return Chromium(os.path.abspath(path), "MAYADEEN_CHROMIUM_PATH")


def _set(settings, name: str, value) -> None:
    # At least the priority the setting already has: settings.py and -s must not win over the add-on.
    priority = max(settings.getpriority(name) or 0, SETTINGS_PRIORITIES["addon"])
    settings.set(name, value, priority=priority)


class BrowserAddon:
    """Wires ``MAYADEEN_CHROMIUM_PATH`` into scrapy-playwright (``ADDONS``).

    Add-ons run after the spider is built (Scrapy >= 2.13), so ``-a js=0`` is known here too.
    """

    def __init__(self, crawler=None):
        self.crawler = crawler
        self.chromium: Chromium | None = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def __repr__(self) -> str:
        return f"BrowserAddon({self.chromium.path or self.chromium.origin if self.chromium else '?'})"

    def update_settings(self, settings) -> None:
        self.chromium = find_chromium(settings.get("MAYADEEN_CHROMIUM_PATH"))
        spider = getattr(self.crawler, "spider", None)
        if self.chromium.available and getattr(spider, "js", True):
            options = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
            options["executable_path"] = self.chromium.path
            options["args"] = [*options.get("args", ()), *direct_only(settings, spider)]
            _set(settings, "PLAYWRIGHT_LAUNCH_OPTIONS", options)
            return
        # No browser, or not wanted: the handlers would only start an idle Playwright driver.
        handlers = dict(settings.getdict("DOWNLOAD_HANDLERS"))
        base = settings.getdict("DOWNLOAD_HANDLERS_BASE")
        changed = {s: base[s] for s, path in handlers.items() if path == PLAYWRIGHT_HANDLER and s in base}
        if changed:
            _set(settings, "DOWNLOAD_HANDLERS", {**handlers, **changed})


def direct_only(settings, spider=None) -> list[str]:
    """Chromium flags that let it connect to the site's origin only (the mirror's in mirror mode;
    Cloudflare's challenge frame too on the live site only): every other host and port goes to
    ``NOWHERE_PROXY``, and no other host name is resolved. A second wall behind the page's routes, for
    what Chromium connects to without a request they see (the preconnect it makes when a page starts
    a navigation or names a host in a ``<link>``, a DNS prefetch)."""
    mirror = parse_origin("base_url", getattr(spider, "base_url", None) or settings.get("MAYADEEN_BASE_URL"))
    _, host, port = origin(mirror or settings.get("MAYADEEN_PUBLIC_URL") or PUBLIC_URL)
    host = f"[{host}]" if ":" in host else host
    # The proxy's own address stays resolvable: a proxy that cannot be found is not to be bypassed.
    hosts = sorted({host, NOWHERE_HOST} | (set() if mirror else CHALLENGE_HOSTS))
    direct = [f"{host}:{port}"] + ([] if mirror else [f"{h}:443" for h in sorted(CHALLENGE_HOSTS)])
    # <-loopback>: loopback addresses go through the proxy too, unless named (another local port).
    return [
        f"--proxy-server={NOWHERE_PROXY}",
        f"--proxy-bypass-list=<-loopback>;{';'.join(direct)}",
        "--host-resolver-rules=MAP * ~NOTFOUND, " + ", ".join(f"EXCLUDE {h}" for h in hosts),
    ]


def browser_available(settings) -> bool:
    """Whether scrapy-playwright is installed as the handler of the site's schemes (see BrowserAddon)."""
    # In mirror mode the handlers are wrapped (mayadeen.mirror); the wrapped ones are these.
    handlers = {**settings.getwithbase("DOWNLOAD_HANDLERS"), **settings.getdict("MAYADEEN_MIRROR_HANDLERS")}
    return all(handlers.get(s) == PLAYWRIGHT_HANDLER for s in ("http", "https"))


def why_no_browser(settings, js: bool = True) -> str | None:
    """Why this crawl has no browser (``js`` is the spider argument), or None when it has one."""
    if not js:
        return "the browser is off (-a js=0)"
    chromium = find_chromium(settings.get("MAYADEEN_CHROMIUM_PATH"))
    if not chromium.available:
        return f"no browser: {chromium.origin}"
    if not browser_available(settings):
        return "scrapy-playwright is not the download handler of http/https (DOWNLOAD_HANDLERS)"
    return None


def browser_meta(
    settings, page_methods: list, *, page_init: tuple[str, ...] = (), third_party: frozenset[str] = frozenset(), **extra
) -> dict:
    """Meta that sends a request through the browser, confined to the request's origin (plus the
    https hosts ``third_party``), running the init callbacks ``page_init`` before the first navigation
    and ``page_methods`` after the page loaded."""
    # Service workers would fetch past the page's routes; downloads are nothing we read.
    context_kwargs = {"service_workers": "block", "accept_downloads": False}
    if settings.get("USER_AGENT"):
        # The same agent as the plain requests: a clearance cookie is bound to it.
        context_kwargs["user_agent"] = settings.get("USER_AGENT")
    return {
        "playwright": True,
        "playwright_context": CONTEXT,
        "playwright_context_kwargs": context_kwargs,
        "playwright_page_init_callback": "mayadeen.browser.confine.init_page",
        "playwright_page_methods": list(page_methods),
        PAGE_INIT_KEY: list(page_init),
        THIRD_PARTY_KEY: sorted(third_party),
        **extra,
    }
