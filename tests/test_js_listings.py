"""Client-side listings rendered in real headless Chromium (scrapy-playwright), and what happens without it.

Unit tests for the browser discovery, the request filter inside the browser and the listing API page;
then `scrapy crawl sections` against the fixture server without a browser: ``-a js=0``,
``MAYADEEN_CHROMIUM_PATH=/nonexistent`` and a browser that does not launch. The crawl with the browser
is test_sections_crawl's (one rendering crawl of the fixtures for both modules' checks).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from scrapy.http import HtmlResponse, TextResponse
from scrapy.settings import Settings

import mayadeen.browser.chromium as browser
from mayadeen import settings as project_settings
from mayadeen.browser.chromium import BrowserAddon, find_chromium
from mayadeen.browser.confine import Confinement
from mayadeen.pages.listing import ListingPage
from mayadeen.pages.listing_api import ListingApiPage, api_page_url, next_api_page
from mayadeen.urls import PUBLIC_URL, canonical_url, is_client_side_listing
from tests.challenge_server import is_browser
from tests.conftest import expected_records
from tests.fixture_server import FIXTURES, FixtureServer
from tests.inprocess import crawl as crawl_in_process

CHROMIUM = find_chromium("auto")
MAX_PAGES = project_settings.PLAYWRIGHT_MAX_PAGES_PER_CONTEXT
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.available and not os.environ.get("CI"),
    reason=f"{CHROMIUM.origin}; apt-get install chromium (CI installs it and fails instead of skipping)",
)

CLIENT_SIDE_LISTINGS = {
    "/videos",
    "/videos/newsfeed",
    "/videos/video-features",
    "/videos/explainers",
    "/videos/tv",
    "/videos/digital-series",
    "/in-pictures",
}
API_FILES = sorted((FIXTURES / "www" / "api" / "listing").glob("*.json"))


def api_items() -> set[str]:
    return {canonical_url(it["url"]) for f in API_FILES for it in json.loads(f.read_text("utf-8"))["items"]}


def server_rendered_links() -> set[str]:
    """Every URL linked from a stored page other than the listing API (HTML, sitemaps, feeds)."""
    out = set()
    for f in (FIXTURES / "www").rglob("*"):
        if f.is_file() and f.suffix != ".json":
            text = f.read_text("utf-8", "replace")
            for href in re.findall(r'(?:href|src)="([^"]+)"|<(?:loc|link|guid)>([^<]+)<', text):
                url = canonical_url(href[0] or href[1])
                if url:
                    out.add(url)
    return out


#: Item URLs that only the client-side listings link to (all 404 in the sample; two are on /videos page 2).
ONLY_CLIENT_SIDE = api_items() - server_rendered_links()
JS_KINDS = ("video-", "gallery-")


def path_of(url: str) -> str:
    return url.removeprefix(PUBLIC_URL) or "/"


# -- units -------------------------------------------------------------------------------------------


def test_fixture_facts_the_crawl_tests_rely_on():
    assert len(ONLY_CLIENT_SIDE) == 7
    page2 = json.loads((FIXTURES / "www/api/listing/videos.page-2.json").read_text("utf-8"))
    assert {canonical_url(i["url"]) for i in page2["items"]} <= ONLY_CLIENT_SIDE
    assert all(is_client_side_listing(PUBLIC_URL + p) for p in CLIENT_SIDE_LISTINGS)


def test_find_chromium_explicit_empty_and_missing(tmp_path):
    exe = tmp_path / "chrome"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert find_chromium(str(exe)) == browser.Chromium(str(exe), "MAYADEEN_CHROMIUM_PATH")
    assert not find_chromium("").available
    missing = find_chromium("/nonexistent")
    assert not missing.available and "/nonexistent" in missing.origin
    plain_file = tmp_path / "not-executable"
    plain_file.write_text("")
    assert not find_chromium(str(plain_file)).available


def test_find_chromium_auto_prefers_playwrights_own(tmp_path, monkeypatch):
    import playwright

    registry = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    revs = {b["name"]: b["revision"] for b in json.loads(registry.read_text())["browsers"]}
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    debian = tmp_path / "debian-chromium"
    debian.write_text("#!/bin/sh\n")
    debian.chmod(0o755)
    monkeypatch.setattr(browser, "DEBIAN_CHROMIUM", str(debian))
    assert find_chromium("auto") == browser.Chromium(str(debian), "Debian's chromium")

    own = tmp_path / f"chromium_headless_shell-{revs['chromium-headless-shell']}" / "chrome-headless-shell-linux64"
    own.mkdir(parents=True)
    (own / "chrome-headless-shell").write_text("#!/bin/sh\n")
    (own / "chrome-headless-shell").chmod(0o755)
    stale = tmp_path / "chromium-1" / "chrome-linux64"  # another Playwright version's build: not ours
    stale.mkdir(parents=True)
    assert find_chromium(None) == browser.Chromium(str(own / "chrome-headless-shell"), "Playwright's Chromium")

    monkeypatch.setattr(browser, "DEBIAN_CHROMIUM", str(tmp_path / "none"))
    (own / "chrome-headless-shell").unlink()
    assert not find_chromium("auto").available


def addon_settings(**overrides) -> Settings:
    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    for k, v in overrides.items():
        settings.set(k, v, priority="cmdline")
    return settings


def test_addon_hands_the_executable_to_scrapy_playwright(tmp_path):
    exe = tmp_path / "chrome"
    exe.write_text("")
    exe.chmod(0o755)
    settings = addon_settings(MAYADEEN_CHROMIUM_PATH=str(exe))
    BrowserAddon(SimpleNamespace(spider=SimpleNamespace(js=True))).update_settings(settings)
    options = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    assert options["executable_path"] == str(exe) and options["headless"] is True
    assert "--disable-background-networking" in options["args"]
    assert browser.browser_available(settings)


@pytest.mark.parametrize("path, js", [("/nonexistent", True), ("", True), ("auto", False)])
def test_addon_without_browser_restores_plain_handlers(path, js):
    settings = addon_settings(MAYADEEN_CHROMIUM_PATH=path)
    BrowserAddon(SimpleNamespace(spider=SimpleNamespace(js=js))).update_settings(settings)
    handlers = settings.getwithbase("DOWNLOAD_HANDLERS")
    assert handlers["http"] == handlers["https"] == "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler"
    assert not browser.browser_available(settings)


class FakeRequest:
    def __init__(self, url, resource_type, navigation=False, main=True):
        self.frame = SimpleNamespace(parent_frame=None if main else object())
        self.url, self.resource_type, self._navigation = url, resource_type, navigation

    def is_navigation_request(self):
        return self._navigation


@pytest.mark.parametrize(
    "request_, aborted",
    [
        (FakeRequest("http://127.0.0.1:8000/videos", "document", navigation=True), False),
        (FakeRequest("http://127.0.0.1:8000/api/listing?section=videos&page=1", "fetch"), False),
        (FakeRequest("http://127.0.0.1:8000/Scripts/site.js", "script"), False),
        (FakeRequest("http://127.0.0.1:8000/Content/images/logo.svg", "image"), True),
        (FakeRequest("http://127.0.0.1:8000/Content/fonts/roboto.woff2", "font"), True),
        (FakeRequest("http://127.0.0.1:8000/video.mp4", "media"), True),
        (FakeRequest("http://127.0.0.1:8000/Content/css/main.min.css", "stylesheet"), True),
        (FakeRequest("http://127.0.0.1:8001/api/listing?section=videos", "fetch"), True),  # another port
        (FakeRequest("https://127.0.0.1:8000/api/listing?section=videos", "fetch"), True),  # another scheme
        (FakeRequest("https://www.googletagmanager.com/gtag/js?id=G-1", "script"), True),
        (FakeRequest("https://challenges.cloudflare.com/turnstile/v0/api.js", "script"), True),  # not in mirror mode
        (FakeRequest("https://english.almayadeen.net/api/listing?section=videos", "fetch"), True),  # leaves the mirror
        (FakeRequest("https://www.youtube.com/embed/x", "document", navigation=True, main=False), True),
        (FakeRequest("https://english.almayadeen.net/videos", "document", navigation=True), True),
    ],
    ids=lambda v: f"{v.resource_type}:{v.url}" if isinstance(v, FakeRequest) else str(v),
)
def test_browser_loads_only_the_pages_own_documents_scripts_and_fetches(request_, aborted):
    confinement = Confinement("http://127.0.0.1:8000/videos")
    assert (confinement.decide(request_) is not None) is aborted
    assert (confinement.left_for is not None) is (
        aborted and request_.frame.parent_frame is None and request_.is_navigation_request()
    )


def api_response(name: str, url: str) -> TextResponse:
    return TextResponse(
        url=url,
        body=(FIXTURES / "www/api/listing" / name).read_bytes(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


def test_listing_api_pages():
    endpoint = f"{PUBLIC_URL}/api/listing?section=videos"
    assert api_page_url(endpoint, 2) == f"{PUBLIC_URL}/api/listing?section=videos&page=2"
    assert (
        api_page_url("/api/listing?section=videos/newsfeed", 3)
        == f"{PUBLIC_URL}/api/listing?section=videos/newsfeed&page=3"
    )  # the slash stays as the script sends it

    first = ListingApiPage(api_response("videos.page-1.json", api_page_url(endpoint, 1)), endpoint)
    assert first.valid and len(first.cards) == 12 and first.cards[0].day == "4 Aug 2025"
    assert (
        first.cards[0].url
        == f"{PUBLIC_URL}/videos/newsfeed/residents-of-gaza-city-queue-for-water-at-distribution-point"
    )
    assert first.next_page == api_page_url(endpoint, 2)
    last = ListingApiPage(api_response("videos.page-2.json", api_page_url(endpoint, 2)), endpoint)
    assert len(last.cards) == 2 and last.next_page is None

    broken = ListingApiPage(TextResponse(url=endpoint, body=b"<html>oops</html>"), endpoint)
    assert not broken.valid and broken.cards == [] and broken.next_page is None
    backwards = {"page": 3, "has_more": True, "next_page": 2, "items": []}
    looping = TextResponse(url=endpoint, body=json.dumps(backwards).encode())
    assert ListingApiPage(looping, endpoint).next_page is None


def rendered(html: str, url: str = f"{PUBLIC_URL}/videos") -> ListingPage:
    return ListingPage(HtmlResponse(url=url, body=html.encode(), encoding="utf-8"))


def test_next_api_page_follows_the_rendered_load_more_button():
    raw = (FIXTURES / "www/videos/index.html").read_text("utf-8")
    assert next_api_page(rendered(raw)) is None  # the button is hidden until the script loaded page 1
    shown = raw.replace('type="button" hidden>', 'type="button">')
    assert next_api_page(rendered(shown)) == f"{PUBLIC_URL}/api/listing?section=videos&page=2"
    assert (
        next_api_page(rendered(shown.replace('data-page="1"', 'data-page="3"')))
        == f"{PUBLIC_URL}/api/listing?section=videos&page=4"
    )


# -- crawls ------------------------------------------------------------------------------------------


def crawl(tmp_path_factory, name: str, **kw):
    with FixtureServer() as srv:
        result = crawl_in_process("sections", srv.url, tmp_path_factory.mktemp(name), **kw)
    return SimpleNamespace(result=result, srv=srv, stat=result.stat)


@pytest.fixture(scope="module")
def without_js(tmp_path_factory):
    return crawl(tmp_path_factory, "js0", args={"js": "0"})


def requested(srv) -> set[str]:
    return {h.path for h in srv.requests}


def test_without_js_client_side_listings_are_skipped_and_said_so(without_js):
    log, stat = without_js.result.log, without_js.stat
    paths = requested(without_js.srv)
    assert not {path_of(u) for u in ONLY_CLIENT_SIDE} & paths
    assert not CLIENT_SIDE_LISTINGS & paths and not any(p.startswith("/api/") for p in paths)
    assert not any(is_browser(h.headers) for h in without_js.srv.requests)
    assert "are skipped: the browser is off (-a js=0)" in log
    assert stat("mayadeen/js/skipped_listings") == len(CLIENT_SIDE_LISTINGS)
    assert re.search(r"INFO: Skipped 7 client-side listing\(s\) \(the browser is off \(-a js=0\)\): /", log)
    assert "scrapy-playwright" not in log  # no idle Playwright driver either
    assert "ERROR" not in log
    expected = expected_records()
    for rec in without_js.result.records():
        assert {k: rec[k] for k in expected[rec["url"]]} == expected[rec["url"]]


def test_without_a_browser_the_crawl_goes_on_with_one_install_hint(tmp_path_factory):
    # A warning and a counter, not an error: a re-run with nothing new must still exit 0.
    run = crawl(tmp_path_factory, "nobrowser", settings={"MAYADEEN_CHROMIUM_PATH": "/nonexistent"})
    log, stat = run.result.log, run.stat
    assert " ERROR: " not in log and run.result.returncode == 0
    hints = [line for line in log.splitlines() if " WARNING: Client-side listings" in line]
    assert len(hints) == 1, hints
    assert "MAYADEEN_CHROMIUM_PATH=/nonexistent is not an executable file" in hints[0]
    assert "playwright install chromium" in hints[0] and "apt-get install chromium" in hints[0]
    assert stat("mayadeen/js/no_browser") == len(CLIENT_SIDE_LISTINGS)
    assert stat("mayadeen/js/skipped_listings") == len(CLIENT_SIDE_LISTINGS)
    assert "WARNING: Skipped 7 client-side listing(s) (no browser:" in log
    # Both warnings are counted, the one logged as the spider closes too (Scrapy's LogCount stops at
    # spider_closed): the summary says what the log holds.
    warnings = [line for line in log.splitlines()[:-1] if " WARNING: " in line]
    assert stat("log_count/WARNING") == len(warnings) >= 2, warnings
    assert f" warnings={len(warnings)} " in log.strip().splitlines()[-1]
    assert stat("item_scraped_count") >= 1
    assert "Spider closed (finished)" in log
    assert not {path_of(u) for u in ONLY_CLIENT_SIDE} & requested(run.srv)


def test_a_browser_that_does_not_launch_is_one_warning_too(tmp_path_factory):
    # Only the two client-side listings: without a browser the run could do nothing it was asked,
    # so it fails (browser_missing, exit 1).
    run = crawl(
        tmp_path_factory,
        "nolaunch",
        args={"sections": "videos,in-pictures"},
        settings={"MAYADEEN_CHROMIUM_PATH": "/bin/false"},
        check=False,
    )
    hints = [line for line in run.result.log.splitlines() if " WARNING: Client-side listings" in line]
    assert len(hints) == 1, hints
    assert "the browser /bin/false failed to launch" in hints[0] and "playwright install chromium" in hints[0]
    assert run.result.returncode == 1 and "result=FAILED (browser_missing)" in run.result.log
    assert run.stat("mayadeen/js/skipped_listings") == 2
    assert "Traceback" not in run.result.log
