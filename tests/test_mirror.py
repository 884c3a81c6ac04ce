"""The mirror: public URLs everywhere but on the wire (the download handler swaps them)."""

import asyncio
from types import SimpleNamespace

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from mayadeen import settings as project_settings
from mayadeen.browser.chromium import PLAYWRIGHT_HANDLER, browser_available
from mayadeen.mirror import HANDLER, MirrorAddon, MirrorDownloadHandler, swap_origin

PUBLIC = "https://english.almayadeen.net"
MIRROR = "http://127.0.0.1:8123"


class Wire:
    """A download handler that answers every request itself and remembers what it was asked."""

    lazy = False
    seen: list = []
    fail: Exception | None = None

    def __init__(self, crawler):
        pass

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def download_request(self, request):
        Wire.seen.append(request)
        if Wire.fail is not None:
            raise Wire.fail
        headers = {"Location": MIRROR + "/new"} if request.url.endswith("/old") else {}
        return HtmlResponse(request.url, status=301 if headers else 200, headers=headers, body=b"<html></html>")

    async def close(self):
        pass


@pytest.fixture
def handler():
    Wire.seen, Wire.fail = [], None
    crawler = get_crawler(
        settings_dict={"MAYADEEN_BASE_URL": MIRROR, "MAYADEEN_MIRROR_HANDLERS": {"http": f"{__name__}.Wire"}}
    )
    crawler.stats.open_spider()
    return MirrorDownloadHandler(crawler)


def test_swap_origin():
    assert swap_origin(PUBLIC + "/a?b=1#c", PUBLIC, MIRROR) == MIRROR + "/a?b=1#c"
    assert swap_origin("https://x.com/a", PUBLIC, MIRROR) is None


def test_request_goes_to_the_mirror_and_comes_back_public(handler):
    request = Request(PUBLIC + "/news/politics?page=2")
    response = asyncio.run(handler.download_request(request))
    assert [r.url for r in Wire.seen] == [MIRROR + "/news/politics?page=2"]
    assert response.url == PUBLIC + "/news/politics?page=2" and response.request is request
    assert request.url == PUBLIC + "/news/politics?page=2"  # the request itself is never changed
    assert handler.stats.get_value("mayadeen/mirror/requests") == 1


def test_redirect_to_the_mirror_is_read_as_the_public_page(handler):
    response = asyncio.run(handler.download_request(Request(PUBLIC + "/old")))
    assert response.headers[b"Location"] == (PUBLIC + "/new").encode()


def test_other_hosts_are_never_fetched_in_mirror_mode(handler):
    with pytest.raises(IgnoreRequest):
        asyncio.run(handler.download_request(Request("https://x.com/share")))
    assert Wire.seen == [] and handler.stats.get_value("mayadeen/mirror/blocked") == 1


def test_a_failed_download_names_the_mirror(handler):
    Wire.fail = ConnectionRefusedError("Connection refused")
    with pytest.raises(ConnectionRefusedError, match=rf"Connection refused \(fetching {MIRROR}/rss\)"):
        asyncio.run(handler.download_request(Request(PUBLIC + "/rss")))


def test_environment_proxy_is_not_used_for_a_loopback_mirror(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    Wire.seen, Wire.fail = [], None
    crawler = get_crawler(
        settings_dict={"MAYADEEN_BASE_URL": MIRROR, "MAYADEEN_MIRROR_HANDLERS": {"http": f"{__name__}.Wire"}}
    )
    crawler.stats.open_spider()
    request = Request(PUBLIC + "/news", meta={"proxy": "http://proxy.invalid:3128"})
    asyncio.run(MirrorDownloadHandler(crawler).download_request(request))
    assert Wire.seen[0].meta["proxy"] is None
    assert request.meta["proxy"] == "http://proxy.invalid:3128"


@pytest.mark.parametrize("base_url, wrapped", [(MIRROR + "/", True), ("", False)])
def test_addon_wraps_the_handlers_only_with_a_mirror(base_url, wrapped):
    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    MirrorAddon(SimpleNamespace(spider=SimpleNamespace(base_url=base_url))).update_settings(settings)
    handlers = settings.getwithbase("DOWNLOAD_HANDLERS")
    assert (handlers["http"] == handlers["https"] == HANDLER) is wrapped
    if wrapped:
        assert settings.get("MAYADEEN_BASE_URL") == MIRROR
        assert settings.getdict("MAYADEEN_MIRROR_HANDLERS") == {"http": PLAYWRIGHT_HANDLER, "https": PLAYWRIGHT_HANDLER}
    assert browser_available(settings)  # the browser is still there, behind the mirror
