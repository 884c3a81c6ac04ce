"""A hostile page reaches nothing: the browser confined to the mirror's origin, in real crawls.

A hostile mirror is built at test time from the fixture pages (``fixtures/`` untouched): the
client-side listings and a challenge page carry scripts that try every way out (navigation, a form
POST, ``window.open``, fetch/XHR/img/script/iframe, WebSocket, EventSource, ``sendBeacon``, prefetch
and preconnect, WebRTC with a STUN and a TURN server, a service worker, a meta refresh) towards canary
listeners on 127.0.0.2 and on a second port of 127.0.0.1, which count every TCP connection and UDP
datagram. Real Debian Chromium, the real ``sections`` and ``sitemap`` spiders, crawling in process
(``tests.inprocess``).

Also: a listing whose API fails is retried, and the switches that crawl's Chromium was started with
(an empty listing is test_browser_pages's: not broken, and its page lent again).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from warcio.archiveiterator import ArchiveIterator

from mayadeen.urls import PUBLIC_URL
from tests import inprocess
from tests.challenge_server import CHALLENGE_PAGE, CLOUDFLARE_HEADERS, is_browser
from tests.conftest import expected_records
from tests.fixture_server import FixtureServer, FixtureSite
from tests.test_js_listings import needs_chromium

ARTICLE = "/news/health/who-warns-of-rising-heat-related-illness-as-summer-temperatures-soar"
CHALLENGED = "/news/economy/opec-agrees-to-another-large-oil-output-hike-for-september"
SOLVED_ELSEWHERE = "/news/sports/saudi-arabia-confirmed-as-host-of-2034-fifa-world-cup"
# Listings whose scripts only try sub-resources, sockets and popups: they still list their items.
QUIET_ESCAPES = ("/videos", "/videos/tv")
# Listings whose main frame tries to leave: failed renders.
NAVIGATING = {
    "/in-pictures": "location",
    "/videos/newsfeed": "form",
    "/videos/explainers": "refresh",
    # no navigation at all: the page sets the address it would be stored under
    "/videos/video-features": "address",
}
# A listing that answers a redirect to another origin: the browser's next hop, which no route sees.
REDIRECTED = "/videos/digital-series"
# A path of the mirror that redirects to the far canary: a fetch of it is a same-origin request whose
# next hop leaves.
HOP = "/hop"
FORGED = "/news/politics/forged-story"
# The hostile crawl takes only the sections of these pages: the rest of the site is plain pages.
HOSTILE_SECTIONS = ",".join(
    sorted(
        {p.strip("/") for p in (*QUIET_ESCAPES, *NAVIGATING, REDIRECTED)}
        | {p.strip("/").rsplit("/", 1)[0] for p in (ARTICLE, CHALLENGED, SOLVED_ELSEWHERE)}
    )
)


class Canary:
    """Counts TCP connections (and, for ``udp``, datagrams) on ``host``: nothing may ever arrive."""

    def __init__(self, host: str, udp: bool = False):
        kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind((host, 0))
        if not udp:
            self.sock.listen(64)
        self.host, self.port = self.sock.getsockname()
        self.udp, self.hits, self.stopped = udp, [], False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped:
            try:
                if self.udp:
                    data, peer = self.sock.recvfrom(4096)
                    self.hits.append((peer, data[:64]))
                else:
                    conn, peer = self.sock.accept()
                    conn.settimeout(1)
                    try:
                        self.hits.append((peer, conn.recv(256)))
                    except OSError:
                        self.hits.append((peer, b""))
                    conn.close()
            except OSError:
                return

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()


@pytest.fixture(scope="module")
def canaries():
    out = SimpleNamespace(far=Canary("127.0.0.2"), near=Canary("127.0.0.1"), udp=Canary("127.0.0.2", udp=True))
    yield out
    for canary in (out.far, out.near, out.udp):
        canary.stop()


def escapes(targets: list[str], udp: Canary) -> str:
    """A script that tries every way out of the page but navigating it, towards each of ``targets``."""
    return """<script>(function () {
  var targets = %s;
  function attempt(f) { try { f(); } catch (e) {} }
  targets.forEach(function (t) {
    attempt(function () { fetch(t + '/fetch', {mode: 'no-cors'}).catch(function () {}); });
    attempt(function () { var x = new XMLHttpRequest(); x.open('GET', t + '/xhr'); x.send(); });
    attempt(function () { new Image().src = t + '/img'; });
    attempt(function () { var s = document.createElement('script'); s.src = t + '/script.js'; document.head.appendChild(s); });
    attempt(function () { var f = document.createElement('iframe'); f.src = t + '/frame'; document.body.appendChild(f); });
    attempt(function () { new WebSocket(t.replace('http', 'ws') + '/socket'); });
    attempt(function () { new EventSource(t + '/events'); });
    attempt(function () { navigator.sendBeacon(t + '/beacon', 'x'); });
    attempt(function () { fetch(t + '/keepalive', {method: 'POST', body: 'x', keepalive: true, mode: 'no-cors'}).catch(function () {}); });
    ['prefetch', 'preconnect', 'dns-prefetch', 'preload', 'stylesheet'].forEach(function (rel) {
      attempt(function () { var l = document.createElement('link'); l.rel = rel; l.as = 'script'; l.href = t + '/' + rel; document.head.appendChild(l); });
    });
    attempt(function () { window.open(t + '/popup'); });
    attempt(function () { var w = window.open('', '_blank'); w.document.write('<img src="' + t + '/from-popup">'); w.fetch(t + '/popup-fetch'); });
  });
  attempt(function () {
    var pc = new RTCPeerConnection({iceServers: [{urls: 'stun:%s:%d'},
      {urls: 'turn:%s:%d?transport=tcp', username: 'u', credential: 'c'}]});
    pc.createDataChannel('x');
    pc.createOffer().then(function (o) { return pc.setLocalDescription(o); }).catch(function () {});
  });
  attempt(function () { navigator.serviceWorker.register('/sw.js').catch(function () {}); });
  attempt(function () { fetch('%s', {mode: 'no-cors'}).catch(function () {}); });
})();</script>""" % (json.dumps(targets), udp.host, udp.port, udp.host, udp.port, HOP)


def static_escapes(targets: list[str]) -> str:
    """The same from the markup: tags the parser fetches before any script runs."""
    return "".join(
        f'<link rel="prefetch" href="{t}/static-prefetch"><link rel="preconnect" href="{t}">'
        f'<img src="{t}/static-img"><iframe src="{t}/static-frame"></iframe>'
        for t in targets
    )


def navigation(kind: str, target: str) -> str:
    if kind == "location":
        return f"<script>setTimeout(function () {{ location.href = '{target}/location'; }}, 0);</script>"
    if kind == "address":
        return f"<script>history.replaceState(null, '', '{FORGED}');</script>"
    if kind == "form":
        return (
            f'<form id="out" method="post" action="{target}/post"><input name="q" value="x"></form>'
            "<script>document.getElementById('out').submit();</script>"
        )
    return f'<meta http-equiv="refresh" content="0;url={target}/refresh">'


def inject(body: bytes, html: str) -> bytes:
    head, sep, tail = body.rpartition(b"</body>")
    return head + html.encode() + sep + tail


def with_marked_article(site: FixtureSite, canaries) -> FixtureSite:
    """``site`` with a 200 page that has the challenge's marker and a script that leaves: never to be
    opened in a browser."""
    site.override(
        ARTICLE,
        inject(
            site.body(ARTICLE),
            f"<script>window._cf_chl_opt={{cType:'managed'}};location.href='{canaries.far.url}/from-200';</script>",
        ),
    )
    return site


def hostile_site(canaries) -> FixtureSite:
    site = with_marked_article(FixtureSite(), canaries)
    targets = [canaries.far.url, canaries.near.url]
    for path in QUIET_ESCAPES:
        site.override(path, inject(site.body(path), static_escapes(targets) + escapes(targets, canaries.udp)))
    for path, kind in NAVIGATING.items():
        site.override(
            path, inject(site.body(path), navigation(kind, canaries.far.url) + escapes(targets, canaries.udp))
        )
    site.override(REDIRECTED, status=302, headers={"Location": f"{canaries.far.url}/redirected"})
    site.override(HOP, status=302, headers={"Location": f"{canaries.far.url}/hop-target"})
    # Challenges whose "solution" lands off the origin, or on another page of it.
    leave = f"setTimeout(function () {{ location.href = '{canaries.near.url}/solved'; }}, 50);"
    elsewhere = (
        "setTimeout(function () { document.cookie = 'cf_clearance=x; path=/'; location.href = '/'; }, 50);"
        + escapes(targets, canaries.udp).removeprefix("<script>").removesuffix("</script>")
    )
    for path, solve in ((CHALLENGED, leave), (SOLVED_ELSEWHERE, elsewhere)):
        site.override(path, CHALLENGE_PAGE % {"path": path, "solve": solve}, status=403, headers=CLOUDFLARE_HEADERS)
    return site


def warc_responses(directory: Path) -> list[tuple[str, int]]:
    out = []
    for path in sorted(directory.glob("*.warc.gz")):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "response":
                    out.append((record.rec_headers.get_header("WARC-Target-URI"), record.http_headers.get_statuscode()))
    return out


def assert_no_canary_hit(canaries) -> None:
    for name in ("far", "near", "udp"):
        assert getattr(canaries, name).hits == [], f"the {name} canary was reached: {getattr(canaries, name).hits}"


@pytest.fixture(scope="module")
def hostile_sections(canaries, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("hostile")
    with FixtureServer(hostile_site(canaries)) as srv:
        started = time.monotonic()
        result = inprocess.crawl(
            "sections",
            srv.url,
            workdir,
            args={"sections": HOSTILE_SECTIONS},
            settings={"MAYADEEN_WARC_ALL": "1", "LOG_LEVEL": "DEBUG"},
            check=False,
        )
        elapsed = time.monotonic() - started
    print(
        f"\nhostile sections crawl: {elapsed:.1f} s, "
        f"aborted in the browser: {result.stat('playwright/request_count/aborted')}"
    )
    return SimpleNamespace(result=result, srv=srv, stat=result.stat, warc=warc_responses(workdir / "warc"))


@needs_chromium
def test_no_hostile_page_reaches_any_canary(hostile_sections, canaries):
    assert hostile_sections.result.returncode == 0, hostile_sections.result.log[-3000:]
    assert_no_canary_hit(canaries)
    stat = hostile_sections.stat
    for reason in ("origin", "resource_type", "navigation", "websocket", "popup"):
        assert stat(f"mayadeen/browser/blocked/{reason}"), reason
    assert "Browser request blocked (origin)" in hostile_sections.result.log  # DEBUG, one per request
    # the next hop of a fetch redirected off the origin: no route saw it, the page's request event did
    assert f": {canaries.far.url}/hop-target" in hostile_sections.result.log
    assert "INFO: The browser blocked" in hostile_sections.result.log
    # From the browser the mirror saw documents and the listing API only, and Chromium's own favicon
    # fetch (made by the browser process, outside the page's routes; same origin only).
    others = {
        h.path
        for h in hostile_sections.srv.requests
        if is_browser(h.headers) and h.headers.get("Sec-Fetch-Dest") not in ("document", "iframe", "empty")
    }
    assert all("favicon" in p for p in others), others
    assert "/sw.js" not in {h.path for h in hostile_sections.srv.requests}


@needs_chromium
def test_the_quiet_hostile_listings_still_give_exact_records(hostile_sections):
    records = {r["url"]: r for r in hostile_sections.result.records()}
    expected = expected_records()
    videos = {u for u, rec in expected.items() if rec["kind"] == "video"}
    assert videos and videos <= set(records)
    for url, rec in records.items():
        for key, value in expected[url].items():
            assert rec[key] == value, f"{url}: {key}"
    assert (PUBLIC_URL + "/videos", "200") in hostile_sections.warc


@needs_chromium
def test_a_page_that_navigates_away_is_a_failed_render_never_archived(hostile_sections):
    log, stat = hostile_sections.result.log, hostile_sections.stat
    assert stat("mayadeen/js/left_origin") == len(NAVIGATING) + 1  # and the listing redirected off the origin
    archived = {url for url, _ in hostile_sections.warc}
    for path in (*NAVIGATING, REDIRECTED):
        assert PUBLIC_URL + path not in archived, path
        assert f"Rendering {PUBLIC_URL}{path} failed: the page of http://127.0.0.1:" in log
        navigations = [h for h in hostile_sections.srv.requests if h.path == path]
        assert len(navigations) == 1, "a page that leaves is not rendered again"
    assert not any(url.startswith("http://127.0.0.") for url in archived)
    assert not any(url.endswith(FORGED) for url in archived)
    assert f"ended on another address: http://127.0.0.1:{hostile_sections.srv.httpd.server_address[1]}{FORGED}" in log


@needs_chromium
def test_a_200_page_with_the_challenge_marker_is_parsed_not_rendered(hostile_sections):
    hits = [h for h in hostile_sections.srv.requests if h.path == ARTICLE]
    assert len(hits) == 1 and not is_browser(hits[0].headers)
    record = next(r for r in hostile_sections.result.records() if r["url"] == PUBLIC_URL + ARTICLE)
    expected = expected_records()[PUBLIC_URL + ARTICLE]
    assert {k: record[k] for k in expected} == expected


@needs_chromium
def test_a_challenge_solved_off_the_origin_or_elsewhere_is_no_solution(hostile_sections):
    stat, log = hostile_sections.stat, hostile_sections.result.log
    assert stat("mayadeen/challenge/detected") == 2 and stat("mayadeen/challenge/failed") == 2
    assert stat("mayadeen/challenge/solved") is None
    # a page that moved itself elsewhere on the site is refused by the handler, before the challenge check
    lines = [line for line in log.splitlines() if SOLVED_ELSEWHERE in line and "WARNING" in line]
    assert any("ended on another address: http://127.0.0.1:" in line for line in lines), lines
    urls = {r["url"] for r in hostile_sections.result.records()}
    for path in (CHALLENGED, SOLVED_ELSEWHERE):
        assert PUBLIC_URL + path not in urls
        assert {status for url, status in hostile_sections.warc if url == PUBLIC_URL + path} == {"403"}


@needs_chromium
@pytest.mark.parametrize("spider", ["sitemap", "feed"])
def test_other_spiders_never_render_a_200_page_with_the_marker(spider, canaries, tmp_path):
    # Only the marked page: the hostile challenges and listings are the sections crawl's (the same
    # middlewares for every spider), and without them this crawl starts no browser unless it wrongly
    # sends the marked page to one.
    with FixtureServer(with_marked_article(FixtureSite(), canaries)) as srv:
        result = inprocess.crawl(spider, srv.url, tmp_path, check=False)
    assert result.returncode == 0, result.log[-3000:]
    assert not any(is_browser(h.headers) for h in srv.requests if h.path == ARTICLE)
    assert PUBLIC_URL + ARTICLE in {r["url"] for r in result.records()}
    assert_no_canary_hit(canaries)


# -- a broken listing is retried ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def broken_listing(tmp_path_factory):
    """A crawl of a client-side listing whose API fails, its Chromium started through a launcher that
    writes down the switches it was given (one browser for both tests)."""
    from tests.test_js_listings import CHROMIUM

    workdir = tmp_path_factory.mktemp("broken_listing")
    switches, launcher = workdir / "chromium-switches", workdir / "chromium"
    launcher.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{switches}"\nexec "{CHROMIUM.path}" "$@"\n')
    launcher.chmod(0o755)
    site = FixtureSite()
    site.override("/api/listing?section=in-pictures&page=1", b"{}", status=500, content_type="application/json")
    with FixtureServer(site) as srv:
        result = inprocess.crawl(
            "sections",
            srv.url,
            workdir,
            args={"sections": "in-pictures"},
            check=False,
            settings={
                "RETRY_TIMES": "2",
                "MAYADEEN_RETRY_BACKOFF_BASE": "0.1",
                "MAYADEEN_CHROMIUM_PATH": str(launcher),
            },
        )
    argv = switches.read_text("utf-8").splitlines() if switches.exists() else []
    return SimpleNamespace(result=result, paths=[h.path for h in srv.requests], argv=argv)


@needs_chromium
def test_a_listing_whose_api_fails_is_still_retried(broken_listing):
    result = broken_listing.result
    assert result.stat("retry/reason_count/render_failed") == 2
    assert (
        "Rendering https://english.almayadeen.net/in-pictures failed (the page shows its error message)" in result.log
    )
    assert result.stat("mayadeen/js/empty_listings") is None
    assert broken_listing.paths.count("/in-pictures") == 3


def test_chromium_connects_to_and_resolves_the_sites_origin_only():
    from scrapy.settings import Settings

    from mayadeen.browser.chromium import direct_only

    mirror = direct_only(Settings(), SimpleNamespace(base_url="http://127.0.0.1:8000"))
    assert mirror == [
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>;127.0.0.1:8000",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]
    live = direct_only(Settings())  # the challenge frame's host on the live site only
    assert live[1] == "--proxy-bypass-list=<-loopback>;english.almayadeen.net:443;challenges.cloudflare.com:443"
    assert live[2] == (
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE challenges.cloudflare.com,"
        " EXCLUDE english.almayadeen.net"
    )


@needs_chromium
def test_chromium_gets_every_feature_switch_playwright_and_we_pass(broken_listing):
    # Chromium keeps only the last --disable-features (and --enable-features): ours, passed after
    # Playwright's, must repeat Playwright's names (MediaRouter, OptimizationHints, ... background work).
    argv = broken_listing.argv  # the switches the crawl's Chromium was started with
    assert "--headless" in argv or any(a.startswith("--headless=") for a in argv), argv
    for switch in ("--disable-features=", "--enable-features="):
        given = [set(a[len(switch) :].split(",")) for a in argv if a.startswith(switch)]
        if given:
            assert set().union(*given) <= given[-1], (switch, set().union(*given) - given[-1])
    disabled = [a for a in argv if a.startswith("--disable-features=")][-1]
    assert {"Prerender2", "MediaRouter", "OptimizationHints"} <= set(disabled.split("=", 1)[1].split(","))
