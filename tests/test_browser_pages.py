"""Browser pages reused between renders carry nothing from one render to the next (mayadeen.browser.pages).

One page for the whole crawl (``PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 1``): every listing after the first
is rendered in the page the one before it used. Each listing's script writes into the page the
``window.name`` it found, then names the window itself. Real Debian Chromium, the real ``sections``
spider, crawling in process (``tests.inprocess``).

In the same crawl, a listing whose API reports no items is empty, not broken (one render, INFO, a
stat, exit 0), and its page is lent again.
"""

from __future__ import annotations

import json
import re

import pytest
from warcio.archiveiterator import ArchiveIterator

from mayadeen.urls import PUBLIC_URL
from tests.fixture_server import FixtureServer, FixtureSite
from tests.inprocess import crawl as crawl_in_process
from tests.test_browser_confinement import inject
from tests.test_js_listings import needs_chromium

LISTINGS = ["/videos", "/videos/digital-series", "/videos/explainers", "/videos/newsfeed", "/videos/tv"]
LISTINGS += ["/videos/video-features"]
EMPTY = "/in-pictures"
EMPTY_API = "/api/listing?section=in-pictures&page=1"
EMPTY_PAGE = json.dumps({"page": 1, "total": 0, "has_more": False, "next_page": None, "items": []})
# Same-origin navigations keep window.name: without the reset, each render would show its predecessor's.
CARRIER = """<script>
window.addEventListener('load', function () {
  var seen = document.createElement('p');
  seen.id = 'carried';
  seen.textContent = 'carried:[' + window.name + ']';
  document.body.appendChild(seen);
  window.name = 'left by ' + location.pathname;
});
</script>"""


def rendered_bodies(directory) -> dict[str, str]:
    out = {}
    for path in sorted(directory.glob("*.warc.gz")):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "response":
                    out[record.rec_headers.get_header("WARC-Target-URI")] = record.content_stream().read().decode()
    return out


@pytest.fixture(scope="module")
def one_page(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("one_page")
    site = FixtureSite()
    for path in LISTINGS:
        site.override(path, inject(site.body(path), CARRIER))
    site.override(EMPTY_API, EMPTY_PAGE, content_type="application/json")
    with FixtureServer(site) as srv:
        result = crawl_in_process(
            "sections",
            srv.url,
            workdir,
            args={"sections": ",".join(path.lstrip("/") for path in [*LISTINGS, EMPTY])},
            settings={"PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": "1", "MAYADEEN_WARC_ALL": "1"},
            check=False,
        )
    return result, srv, rendered_bodies(workdir / "warc")


@needs_chromium
def test_every_render_after_the_first_reuses_the_one_page(one_page):
    result, _, _ = one_page
    assert result.returncode == 0, result.log[-3000:]
    assert result.stat("mayadeen/js/rendered") == len(LISTINGS) + 1  # and the empty one
    assert result.stat("playwright/page_count") == 1
    assert result.stat("mayadeen/browser/pages_reused") == len(LISTINGS)
    assert result.stat("mayadeen/browser/pages_closed") is None
    assert result.stat("mayadeen/js/errors") is None and result.stat("mayadeen/js/left_origin") is None


@needs_chromium
def test_a_reused_page_carries_no_name_of_the_render_before(one_page):
    _, srv, bodies = one_page
    for path in LISTINGS:
        body = bodies[PUBLIC_URL + path]
        assert re.search(r"<p id=\"carried\">(carried:[^<]*)</p>", body).group(1) == "carried:[]", path
    assert sorted(h.path for h in srv.requests if h.path in LISTINGS) == sorted(LISTINGS)  # each rendered once


@needs_chromium
def test_a_listing_whose_api_lists_nothing_is_empty_not_broken(one_page):
    result, srv, _ = one_page
    log = result.log
    assert result.returncode == 0, log[-3000:]
    assert f"INFO: Client-side listing {PUBLIC_URL}{EMPTY} is empty" in log
    assert result.stat("mayadeen/js/empty_listings") == 1
    assert result.stat("mayadeen/js/errors") is None and result.stat("retry/count") is None
    assert " ERROR: " not in log and "result=ok" in log
    assert [h.path for h in srv.requests].count(EMPTY) == 1  # rendered once, not retried
    assert [h.path for h in srv.requests].count(EMPTY_API) == 1
