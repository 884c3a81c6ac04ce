"""A CC-NEWS-like WARC file, built at run time with warcio: the fixture item pages among other records.

Like a Common Crawl CC-NEWS file: a ``warcinfo`` record, then for every capture a ``request``, a
``response`` and a ``metadata`` record, most of them of other news sites. Mixed in: the fixture item
pages (their manifest answers, bodies from ``fixtures/www``), the same pages on the site's host at
another port, a listing page of the site, a 301 of an item page, a non-HTML response, a revisit of
an item page, and, optionally, a last record cut short (an interrupted download).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from mayadeen.urls import PUBLIC_URL, item_kind
from tests.fixture_server import FIXTURES

WARC_DATE = "2025-08-04T12:30:00Z"
OTHER_PAGE = (
    b"<!doctype html><html><head><title>Elsewhere</title></head><body>"
    + b"<p>Another news site's page, nothing of Al Mayadeen.</p>" * 40
    + b"</body></html>"
)


def item_pages() -> list[tuple[str, dict]]:
    """(public URL, manifest entry) of every item page the fixtures answer with 200."""
    entries = json.loads((FIXTURES / "manifest.json").read_text("utf-8"))
    return [
        (PUBLIC_URL + e["path"], e)
        for e in entries
        if e["path"] != "*" and e["status"] == 200 and item_kind(PUBLIC_URL + e["path"])
    ]


class CCNewsWriter:
    def __init__(self, stream, *, gzipped: bool, version: str):
        self.writer = WARCWriter(stream, gzip=gzipped, warc_version=version)

    def warcinfo(self) -> None:
        self.writer.write_record(
            self.writer.create_warcinfo_record(
                "CC-NEWS-20250804123000-00001.warc.gz", {"software": "tests/ccnews_warc.py", "isPartOf": "CC-NEWS"}
            )
        )

    def capture(
        self,
        url: str,
        body: bytes,
        *,
        status: str = "200 OK",
        content_type: str = "text/html; charset=UTF-8",
        extra: list[tuple[str, str]] = (),
        cut: io.BytesIO | None = None,
    ) -> None:
        """request + response + metadata, as Common Crawl writes them; with ``cut`` (the writer's
        stream), the response is cut in the middle and the metadata left out."""
        w = self.writer
        dated = {"WARC-Date": WARC_DATE}
        request = w.create_warc_record(
            url,
            "request",
            payload=io.BytesIO(b""),
            length=0,
            warc_headers_dict=dated,
            http_headers=StatusAndHeaders(f"GET {url} HTTP/1.1", [("User-Agent", "CCBot")], is_http_request=True),
        )
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
        response = w.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            warc_headers_dict=dated,
            http_headers=StatusAndHeaders(status, headers, protocol="HTTP/1.1"),
        )
        metadata = w.create_warc_record(
            url,
            "metadata",
            payload=io.BytesIO(b"fetchTimeMs: 120\r\n"),
            warc_content_type="application/warc-fields",
            warc_headers_dict=dated,
        )
        w.write_record(request)
        start = cut.tell() if cut is not None else 0
        w.write_record(response)
        if cut is not None:
            cut.truncate(start + (cut.tell() - start) // 2)
            return
        w.write_record(metadata)

    def revisit(self, url: str, digest: str) -> None:
        w = self.writer
        self.writer.write_record(
            w.create_revisit_record(
                url,
                digest,
                url,
                WARC_DATE,
                warc_headers_dict={"WARC-Date": WARC_DATE},
                http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1"),
            )
        )


def build(
    path: Path, *, gzipped: bool = True, version: str = "1.1", others: int = 40, truncated: bool = True
) -> dict[str, int]:
    """Write the file; returns how many records of each kind it holds (what a reader should count)."""
    raw = io.BytesIO()
    out = CCNewsWriter(raw, gzipped=gzipped, version=version)
    out.warcinfo()
    pages = item_pages()
    moved_port = PUBLIC_URL.replace("https://english.almayadeen.net", "https://english.almayadeen.net:8443")
    for number, (url, entry) in enumerate(pages):
        body = (FIXTURES / entry["file"]).read_bytes()
        for other in range(others // len(pages) + 1):
            out.capture(f"https://news{other}.example.org/world/story-{number}-{other}", OTHER_PAGE)
        out.capture(url, body, content_type=entry["content_type"])
        out.capture(url.replace(PUBLIC_URL, moved_port), body)  # the site's host on another port: not the site
    first_url, first = pages[0]
    out.capture(PUBLIC_URL + "/news/politics", b"<html><body>a listing</body></html>")  # on the site, no item
    out.capture(first_url + "-old", b"", status="301 Moved Permanently", extra=[("Location", first_url)])
    out.capture(
        first_url.replace(PUBLIC_URL, PUBLIC_URL + "/images") + ".jpg",
        b"\xff\xd8\xff\xe0jpeg",
        content_type="image/jpeg",
    )
    pdf_url = PUBLIC_URL + "/news/politics/a-report-as-pdf"
    out.capture(pdf_url, b"%PDF-1.4 a report", content_type="application/pdf")  # an item URL, not HTML
    digester = Digester("sha1")
    digester.update((FIXTURES / first["file"]).read_bytes())
    out.revisit(first_url, str(digester))
    if truncated:
        last_url, last_entry = pages[-1]
        out.capture(last_url, (FIXTURES / last_entry["file"]).read_bytes(), cut=raw)
    path.write_bytes(raw.getvalue())
    n = len(pages)
    per_item = others // n + 1
    counts = {
        "items": n,
        "warcinfo": 1,
        "revisit": 1,
        "other_host": n * per_item + n,  # other sites, and the site's host on port 8443
        "not_item": 2,
        "status": 1,
        "not_html": 1,
        "request": n * (per_item + 2) + 4 + (1 if truncated else 0),
        "metadata": n * (per_item + 2) + 4,
    }
    if truncated:
        counts["truncated"] = 1
    return counts
