"""A large mirror for the benchmarks, built in memory at run time from the fixtures' 14 item pages.

Each clone gets its own post id, slug, headline and publication day; the sitemap index, the monthly
sitemaps, the news sitemap and the RSS feed list the clones (nothing is written to the repository).
"""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

from mayadeen.urls import PUBLIC_URL
from tests.conftest import expected_records
from tests.fixture_server import Answer, FixtureSite

FIRST_DAY = date(2024, 1, 1)
HTML = "text/html; charset=utf-8"
XML = "application/xml; charset=utf-8"
#: How many of the newest clones the news sitemap and the RSS feed list (the live site lists the latest).
LATEST = 50


class ClonedSite(FixtureSite):
    """``items`` item pages cloned from the fixtures, with robots.txt, sitemaps and feed that list them."""

    def __init__(self, items: int):
        super().__init__()
        self.pages: dict[str, Answer] = {}
        months: dict[str, list[tuple[str, str]]] = {}
        clones: list[tuple[str, str, date]] = []
        templates = sorted(expected_records().items())
        for n in range(items):
            url, record = templates[n % len(templates)]
            path = url.removeprefix(PUBLIC_URL)
            day = FIRST_DAY + timedelta(days=n % 360)
            new_path, headline = f"{path}-c{n}", f"{record['headline']} ({n})"
            body = self.body(path).decode("utf-8")
            body = body.replace(path, new_path).replace(record["article_id"], str(5_000_000 + n))
            body = body.replace(record["date_published"][:10], day.isoformat())
            body = body.replace(escape(record["headline"], quote=False), escape(headline, quote=False))
            self.pages[new_path] = Answer(200, HTML, body.encode("utf-8"))
            months.setdefault(f"{day.year}-{day.month}", []).append((PUBLIC_URL + new_path, f"{day}T12:00:00Z"))
            clones.append((PUBLIC_URL + new_path, headline, day))
        index = "".join(f"<sitemap><loc>{PUBLIC_URL}/sitemaps/all/sitemap-{m}.xml</loc></sitemap>" for m in months)
        self.pages["/sitemaps/all.xml"] = Answer(200, XML, _xml("sitemapindex", index))
        for month, entries in months.items():
            urls = "".join(f"<url><loc>{u}</loc><lastmod>{d}</lastmod></url>" for u, d in entries)
            self.pages[f"/sitemaps/all/sitemap-{month}.xml"] = Answer(200, XML, _xml("urlset", urls))
        latest = sorted(clones, key=lambda c: c[2], reverse=True)[:LATEST]
        self.pages["/sitemaps/news.xml"] = Answer(
            200,
            XML,
            _xml(
                "urlset",
                "".join(
                    f"<url><loc>{u}</loc><news:news><news:publication_date>{d}T12:00:00Z</news:publication_date>"
                    f"<news:title>{escape(t)}</news:title></news:news></url>"
                    for u, t, d in latest
                ),
            ),
        )
        self.pages["/rss.xml"] = Answer(
            200,
            "application/rss+xml; charset=utf-8",
            (
                '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Al Mayadeen English</title>'
                + "".join(
                    f"<item><title>{escape(t)}</title><link>{u}</link><guid>{u}</guid>"
                    f"<pubDate>{d:%a, %d %b %Y} 12:00:00 +0000</pubDate></item>"
                    for u, t, d in latest
                )
                + "</channel></rss>"
            ).encode(),
        )
        robots = f"User-agent: *\nSitemap: {PUBLIC_URL}/sitemaps/all.xml\n"
        self.pages["/robots.txt"] = Answer(200, "text/plain", robots.encode())

    def answer(self, path_qs: str) -> Answer:
        return self.pages.get(path_qs.split("?")[0]) or super().answer("/no-such-page")

    def item_paths(self) -> list[str]:
        """The cloned item pages' paths."""
        return [p for p in self.pages if p.endswith(tuple("0123456789"))]


def _xml(root: str, content: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        f' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{content}</{root}>'
    ).encode()
