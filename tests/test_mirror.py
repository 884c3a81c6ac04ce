"""The mirror middleware: public URLs everywhere but on the wire."""

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.httpproxy import HttpProxyMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from mayadeen.middlewares.mirror import MirrorMiddleware

PUBLIC = "https://english.almayadeen.net"
MIRROR = "http://127.0.0.1:8123"


@pytest.fixture
def mw():
    crawler = get_crawler(settings_dict={"MAYADEEN_BASE_URL": MIRROR})
    crawler.stats.open_spider()
    return MirrorMiddleware.from_crawler(crawler)


def test_request_goes_to_the_mirror_and_comes_back_public(mw):
    req = Request(PUBLIC + "/news/politics?page=2")
    assert mw.process_request(req) is None
    assert req.url == MIRROR + "/news/politics?page=2"
    resp = mw.process_response(req, HtmlResponse(req.url, body=b"<html></html>", request=req))
    assert resp.url == PUBLIC + "/news/politics?page=2"
    assert req.url == PUBLIC + "/news/politics?page=2"
    assert mw.stats.get_value("mayadeen/mirror/requests") == 1


def test_redirect_to_the_mirror_is_read_as_the_public_page(mw):
    req = Request(PUBLIC + "/old")
    mw.process_request(req)
    resp = HtmlResponse(req.url, status=301, headers={"Location": MIRROR + "/new"}, body=b"", request=req)
    assert mw.process_response(req, resp).headers[b"Location"] == (PUBLIC + "/new").encode()


def test_other_hosts_are_never_fetched_in_mirror_mode(mw):
    with pytest.raises(IgnoreRequest):
        mw.process_request(Request("https://x.com/share"))
    assert mw.stats.get_value("mayadeen/mirror/blocked") == 1


def test_failed_download_restores_the_public_url_for_the_retry(mw):
    req = Request(PUBLIC + "/news")
    mw.process_request(req)
    mw.process_exception(req, TimeoutError())
    assert req.url == PUBLIC + "/news"


def test_environment_proxy_is_not_used_for_a_loopback_mirror(mw, monkeypatch):
    monkeypatch.setenv("https_proxy", "http://proxy.invalid:3128")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    req = Request(PUBLIC + "/news")
    HttpProxyMiddleware.from_crawler(get_crawler()).process_request(req)
    assert req.meta["proxy"] == "http://proxy.invalid:3128"
    mw.process_request(req)
    assert req.meta["proxy"] is None


def test_without_base_url_nothing_changes():
    crawler = get_crawler()
    crawler.stats.open_spider()
    mw = MirrorMiddleware.from_crawler(crawler)
    req = Request(PUBLIC + "/news")
    assert mw.process_request(req) is None and req.url == PUBLIC + "/news"
