"""What the spiders ask for: one canonical request per page, tracking parameters from the settings."""

from scrapy.utils.test import get_crawler

from mayadeen.spiders.sections import SectionsSpider


def spider(**settings):
    crawler = get_crawler(SectionsSpider, settings_dict=settings)
    return SectionsSpider.from_crawler(crawler)


def test_request_is_canonical():
    req = spider().request("/news/politics/a-b/?utm_source=x&page=2#top", callback=None)
    assert req.url == "https://english.almayadeen.net/news/politics/a-b?page=2"


def test_tracking_params_come_from_the_setting():
    s = spider(MAYADEEN_TRACKING_PARAMS=["campaign"])
    assert (
        s.request("https://english.almayadeen.net/news?campaign=1&fbclid=2", callback=None).url
        == "https://english.almayadeen.net/news?fbclid=2"
    )


def test_links_off_the_site_or_not_http_give_no_request():
    s = spider()
    assert s.request("mailto:a@b.c", callback=None) is None
    assert s.request("javascript:void(0)", callback=None) is None


def test_sections_argument_scopes_items():
    s = SectionsSpider.from_crawler(get_crawler(SectionsSpider), sections="news/politics, articles")
    assert s.wants_item("https://english.almayadeen.net/news/politics/x")
    assert s.wants_item("https://english.almayadeen.net/articles/opinion/y")
    assert not s.wants_item("https://english.almayadeen.net/news/economy/z")
    assert not s.wants_item("https://english.almayadeen.net/news/politics")  # a listing, not an item
