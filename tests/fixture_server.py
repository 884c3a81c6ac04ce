"""The bundled fixtures served by the project's site server (``mayadeen.site_server``), for the tests.

``FixtureSite()`` is the folder ``fixtures/``; ``FixtureServer()`` serves it on a free 127.0.0.1 port.
Tests may ``override(path, ...)`` single answers and read ``requests`` to see what the crawler asked for.
"""

from __future__ import annotations

from pathlib import Path

from mayadeen.site_server import Answer, Hit, SiteFolder, SiteServer, write_answer
from mayadeen.urls import PUBLIC_URL

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

__all__ = ["FIXTURES", "Answer", "FixtureServer", "FixtureSite", "Hit", "big_sitemap_site", "write_answer"]


class FixtureSite(SiteFolder):
    """The manifest of ``fixtures/`` (or of ``root``), plus per-test overrides."""

    def __init__(self, root: Path = FIXTURES):
        super().__init__(root)


class FixtureServer(SiteServer):
    """``with FixtureServer() as srv: srv.url`` — serves a FixtureSite on a free loopback port."""

    def __init__(self, site: SiteFolder | None = None):
        super().__init__(site or FixtureSite())


SITEMAP_NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
HUGE_SITEMAP = "/sitemaps/all/sitemap-2025-8.xml"


def big_sitemap_site(urls: int) -> FixtureSite:
    """The fixture site whose sitemap index names one monthly sitemap of ``urls`` item URLs (unknown to
    the site: each answers 404: ``huge_sitemap_item(i)``), and an empty news sitemap."""
    site = FixtureSite()
    xml = "application/xml"
    site.override(
        "/sitemaps/all.xml",
        f"<sitemapindex {SITEMAP_NS}><sitemap><loc>{PUBLIC_URL}{HUGE_SITEMAP}</loc></sitemap></sitemapindex>",
        content_type=xml,
    )
    site.override(
        HUGE_SITEMAP,
        f"<urlset {SITEMAP_NS}>"
        + "".join(
            f"<url><loc>{PUBLIC_URL}{huge_sitemap_item(i)}</loc><lastmod>2025-08-04T10:00:00+03:00</lastmod></url>"
            for i in range(urls)
        )
        + "</urlset>",
        content_type=xml,
    )
    site.override("/sitemaps/news.xml", f"<urlset {SITEMAP_NS}></urlset>", content_type=xml)
    return site


def huge_sitemap_item(i: int) -> str:
    return f"/news/politics/an-item-of-a-huge-sitemap-{i}"
