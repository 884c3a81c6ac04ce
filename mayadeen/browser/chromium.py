"""The browser for the pages that need one: which Chromium, how scrapy-playwright gets it, what it may load.

- ``find_chromium`` resolves ``MAYADEEN_CHROMIUM_PATH``: ``auto`` (the default) takes Playwright's own
  Chromium when ``playwright install chromium`` put it in place, else Debian's ``/usr/lib/chromium/chromium``;
  a path takes that executable; an empty string means no browser.
- ``BrowserAddon`` runs after the command-line settings are applied and before the download handlers are
  built: it hands the executable to scrapy-playwright, or, when there is none, puts the plain HTTP
  handlers back so that no Playwright driver starts for nothing.
- ``should_abort_request`` (``PLAYWRIGHT_ABORT_REQUEST``) keeps the browser to documents, scripts and
  XHR/fetch of the page's own host (and Cloudflare's challenge frame): no images, fonts, media,
  stylesheets or third-party requests.
- ``browser_meta`` is the request meta every browser request of ours carries.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from scrapy.settings import SETTINGS_PRIORITIES

DEBIAN_CHROMIUM = "/usr/lib/chromium/chromium"
PLAYWRIGHT_HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
INSTALL_HINT = (
    "install one with `pip install playwright && playwright install chromium`, or install your "
    "distribution's Chromium (Debian/Ubuntu: `apt-get install chromium`) and set "
    "MAYADEEN_CHROMIUM_PATH=/usr/lib/chromium/chromium (or wherever its executable is)"
)
# What a page may load: its document, its scripts and what they fetch. Everything else (images, fonts,
# media, stylesheets, beacons, manifests...) only costs time and, on the live site, requests.
ALLOWED_RESOURCE_TYPES = frozenset({"document", "script", "xhr", "fetch"})
# One browser context for every browser request, so listings and challenges share its cookies. It is
# scrapy-playwright's default one: a request naming no context shares it too, and never waits forever
# for a second context under PLAYWRIGHT_MAX_CONTEXTS = 1.
CONTEXT = "default"
# Third-party hosts a page may still use: Cloudflare's challenge runs in a frame from this host.
CHALLENGE_HOSTS = frozenset({"challenges.cloudflare.com"})


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
        patterns += [f"chromium_headless_shell-{rev}/chrome-headless-shell-*/chrome-headless-shell",
                     f"chromium_headless_shell-{rev}/chrome-headless-shell-*/chrome-headless-shell.exe"]
    if "chromium" in revisions:
        rev = revisions["chromium"]
        patterns += [f"chromium-{rev}/chrome-*/chrome", f"chromium-{rev}/chrome-*/chrome.exe",
                     f"chromium-{rev}/chrome-mac*/*.app/Contents/MacOS/*"]
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
            _set(settings, "PLAYWRIGHT_LAUNCH_OPTIONS", options)
            return
        # No browser, or not wanted: the handlers would only start an idle Playwright driver.
        handlers = dict(settings.getdict("DOWNLOAD_HANDLERS"))
        base = settings.getdict("DOWNLOAD_HANDLERS_BASE")
        changed = {s: base[s] for s, path in handlers.items() if path == PLAYWRIGHT_HANDLER and s in base}
        if changed:
            _set(settings, "DOWNLOAD_HANDLERS", {**handlers, **changed})


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


def browser_meta(settings, page_methods: list, **extra) -> dict:
    """Meta that sends a request through the browser, running ``page_methods`` after the page loaded."""
    context_kwargs = {"service_workers": "block"}  # a service worker would bypass should_abort_request
    if settings.get("USER_AGENT"):
        # The same agent as the plain requests: a clearance cookie is bound to it.
        context_kwargs["user_agent"] = settings.get("USER_AGENT")
    return {
        "playwright": True,
        "playwright_context": CONTEXT,
        "playwright_context_kwargs": context_kwargs,
        "playwright_page_methods": list(page_methods),
        **extra,
    }


def should_abort_request(request) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: True for what the browser must not fetch.

    Allowed: the main document (and its reloads and same-host redirects), and the documents (frames),
    scripts, XHR and fetch requests of that document's own host or of ``CHALLENGE_HOSTS``. Everything
    else is aborted, which in mirror mode also keeps the browser on the mirror.
    """
    try:
        frame = request.frame
        main = frame.page.main_frame
    except Exception:  # service workers and the like have no frame: nothing we need
        return True
    host = urlsplit(request.url).hostname
    if request.is_navigation_request() and frame == main:
        previous = request.redirected_from
        return previous is not None and urlsplit(previous.url).hostname != host
    if request.resource_type not in ALLOWED_RESOURCE_TYPES:
        return True
    return host != urlsplit(main.url).hostname and host not in CHALLENGE_HOSTS
