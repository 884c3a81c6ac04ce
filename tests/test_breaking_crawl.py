"""`scrapy crawl breaking` against the fixture mirror: each flash once in the table and in the stream.

Also the free harvest by another spider (no extra request) and the flash-article link through real
crawls, on a SQLite file and on a PostgreSQL database (``MAYADEEN_STORE_URL``). Changed home pages
are built at test time (tests/ticker_pages.py). Crawls run in process (``tests.inprocess``), but for
the default stream's, whose relative default paths need a working directory of their own.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mayadeen.spiders.breaking import parse_watch
from mayadeen.store.engines import POSTGRESQL, StoreTarget, connect
from mayadeen.validation import UsageProblem
from tests import inprocess
from tests.fixture_server import FixtureServer, FixtureSite
from tests.inprocess import bare_crawl
from tests.ticker_pages import RECORD_KEYS, STORED_FLASHES, flashes, item, stored_items, with_ticker, without_ticker

PUBLIC = "https://english.almayadeen.net"


def breaking(srv, workdir, **kwargs):
    return inprocess.crawl("breaking", srv.url, workdir, jsonl=workdir / "breaking.jsonl", **kwargs)


def test_home_page_flashes_once_then_only_what_is_new(tmp_path):
    site = FixtureSite()
    with FixtureServer(site) as srv:
        first = breaking(srv, tmp_path)
        assert sorted(srv.paths()) == ["/", "/robots.txt"]
        rows = flashes(first.sqlite)
        assert [(r["time"], r["text"]) for r in rows] == STORED_FLASHES
        for row in rows:
            assert (row["time_estimated"], row["url"], row["article_url"], row["language"]) == (0, None, None, "en")
            assert row["first_seen"] == row["last_seen"]
        stream = first.records()
        assert [list(r) for r in stream] == [RECORD_KEYS] * 10
        assert stream == [{**r, "time_estimated": False} for r in rows]
        assert first.stat("mayadeen/breaking/flashes/new") == 10

        second = breaking(srv, tmp_path)  # same page: nothing new
        assert second.records() == stream
        assert second.stat("mayadeen/breaking/flashes/unchanged") == 10
        assert second.stat("mayadeen/breaking/flashes/new") is None
        assert second.stat("item_scraped_count") is None
        again = flashes(second.sqlite)
        assert [(r["time"], r["text"], r["first_seen"]) for r in again] == [
            (r["time"], r["text"], r["first_seen"]) for r in rows
        ]
        assert all(a["last_seen"] >= r["last_seen"] for a, r in zip(again, rows))

        newest = ("2025-08-04T15:26:00+03:00", "Lebanese Army: Israeli drone strikes a car in south Lebanon.")
        site.override("/", with_ticker([item(*newest)] + stored_items()[:9]))  # one new, the oldest gone
        third = breaking(srv, tmp_path)
    rows = flashes(third.sqlite)
    assert len(rows) == 11 and [(r["time"], r["text"]) for r in rows[:10]] == STORED_FLASHES
    assert (rows[10]["time"], rows[10]["text"]) == ("2025-08-04T12:26:00Z", newest[1])
    stream = third.records()
    assert len(stream) == 11 and stream[10] == {**rows[10], "time_estimated": False}
    assert third.stat("mayadeen/breaking/flashes/new") == 1 and third.stat("mayadeen/breaking/flashes/unchanged") == 9


def test_default_stream_is_data_breaking_jsonl(tmp_path):
    with FixtureServer() as srv:
        proc = bare_crawl("breaking", srv.url, tmp_path)
        assert proc.returncode == 0, proc.log[-3000:]
        overwrite = bare_crawl("breaking", srv.url, tmp_path, "-O", "out.jsonl")
        assert overwrite.returncode == 0, overwrite.log[-3000:]
    lines = (tmp_path / "data" / "breaking.jsonl").read_text("utf-8").splitlines()
    assert [(json.loads(line)["time"], json.loads(line)["text"]) for line in lines] == STORED_FLASHES
    assert not (tmp_path / "data" / "articles.jsonl").exists()
    assert (tmp_path / "out.jsonl").read_text("utf-8") == ""  # -O: nothing new, nothing written there
    assert len(flashes(tmp_path / "data" / "mayadeen.sqlite")) == 10


def test_broken_items_are_logged_counted_and_no_flash_is_lost(tmp_path):
    site = FixtureSite()
    good = stored_items()
    site.override(
        "/",
        with_ticker(
            [
                good[0],
                item("not a date", "Flash with a broken time."),
                item(None, "Flash without a time."),
                item("2025-08-04T15:20:00+03:00", " "),
                good[1],
                good[1],
                item("2025-08-04T15:21:00+03:00", "Israeli <b>media</b>: a <i>strike</i> on Gaza", raw=True),
            ]
        ),
    )
    with FixtureServer(site) as srv:
        result = breaking(srv, tmp_path)
    assert result.returncode == 0
    assert "Traceback" not in result.log
    assert (
        "WARNING: Breaking ticker of https://english.almayadeen.net/: item 2: data-time 'not a date' is not a"
        " time; item 3: data-time None is not a time; item 4: no text; item 6: repeats an earlier item"
    ) in result.log
    assert (
        result.stat("mayadeen/breaking/bad_time"),
        result.stat("mayadeen/breaking/empty"),
        result.stat("mayadeen/breaking/duplicate"),
    ) == (2, 1, 1)
    rows = {r["text"]: r for r in flashes(result.sqlite)}
    assert sorted(rows) == sorted(
        [
            STORED_FLASHES[0][1],
            STORED_FLASHES[1][1],
            "Flash with a broken time.",
            "Flash without a time.",
            "Israeli media: a strike on Gaza",
        ]
    )
    for text in ("Flash with a broken time.", "Flash without a time."):
        assert rows[text]["time_estimated"] == 1 and rows[text]["time"] == rows[text]["first_seen"]
    assert rows["Israeli media: a strike on Gaza"]["time"] == "2025-08-04T12:21:00Z"
    assert sorted(r["text"] for r in result.records()) == sorted(rows)


def test_missing_ticker_is_an_error_not_a_crash(tmp_path):
    site = FixtureSite()
    site.override("/", without_ticker())
    with FixtureServer(site) as srv:
        result = breaking(srv, tmp_path, check=False)
    assert result.returncode == 1  # a home page without its ticker: the layout changed
    assert "ERROR: No breaking ticker (ul#breaking-ticker) on https://english.almayadeen.net/" in result.log
    assert result.stat("mayadeen/breaking/no_ticker") == 1
    assert "Traceback" not in result.log
    assert flashes(result.sqlite) == [] and result.records() == []


def test_watch_argument_is_validated_before_any_request(tmp_path):
    with FixtureServer() as srv:
        result = breaking(srv, tmp_path, args={"watch": "soon"}, check=False)
        assert srv.paths() == []
    assert result.returncode == 2  # a usage error: one line, nothing fetched
    assert result.log.strip() == "scrapy crawl breaking: error: -a watch=soon: takes a number above 0"
    assert not result.sqlite.exists()


@pytest.mark.parametrize("value", ["soon", "0", "-1"])
def test_a_watch_that_is_no_positive_number_is_refused_in_one_wording(value):
    with pytest.raises(UsageProblem) as refused:
        parse_watch("-a watch", value)
    assert str(refused.value) == f"-a watch={value}: takes a number above 0"


def test_other_spiders_harvest_the_ticker_at_no_extra_request(tmp_path):
    paths = {}
    for harvest in ("1", "0"):
        with FixtureServer() as srv:
            result = inprocess.crawl(
                "sections",
                srv.url,
                tmp_path / harvest,
                args={"sections": "news/politics", "js": "0"},
                settings={"MAYADEEN_BREAKING_HARVEST": harvest},
            )
            paths[harvest] = Counter(srv.paths())
        stored = flashes(result.sqlite)
        if harvest == "1":
            assert [(r["time"], r["text"]) for r in stored] == STORED_FLASHES
            assert result.stat("mayadeen/breaking/flashes/new") == 10
        else:
            assert stored == [] and result.stat("mayadeen/breaking/pages") is None
        assert len(result.records()) == 3  # the articles feed gets articles only
    assert paths["1"] == paths["0"]


UN_PATH = "/news/politics/un-warns-gaza-faces-water-crisis-looming-famine-under-israeli-siege"  # 07:20Z
LINK_FLASHES = [
    # 30 minutes before the article, alike its headline: linked
    item("2025-08-04T09:50:00+03:00", "UN warns: Gaza faces a water crisis and looming famine under the Israeli siege"),
    # alike "OPEC agrees to another large oil output hike for September" (3 Aug 15:40Z), but 2 days before it
    item("2025-08-01T10:00:00+03:00", "OPEC agrees to another large oil output hike for September"),
    # alike the Palantir article (31 Jul 18:15Z), but after it
    item("2025-08-01T10:00:00+03:00", "Notorious Palantir lands record $10bln contract with the US Army"),
]


class CrawlStore:
    """The store the crawls of ``workdir`` write: its SQLite file, or the PostgreSQL database ``url``."""

    def __init__(self, workdir, url: str | None = None):
        self.workdir, self.url = workdir, url

    @property
    def settings(self) -> dict[str, str]:
        return {"MAYADEEN_STORE_URL": self.url} if self.url else {}

    def flashes(self) -> list[dict]:
        """The breaking_news rows (record keys, ``time_estimated`` as a bool), oldest first."""
        if self.url is None:
            return [
                {**r, "time_estimated": bool(r["time_estimated"])} for r in flashes(self.workdir / "mayadeen.sqlite")
            ]
        with connect(StoreTarget(POSTGRESQL, self.url), readonly=True) as store:
            return store.rows(f"SELECT {', '.join(RECORD_KEYS)} FROM breaking_news ORDER BY id")


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request, tmp_path):
    """``stores(name)``: a new store for the crawls of ``tmp_path / name``, on each engine."""

    def new(name: str) -> CrawlStore:
        if request.param == "sqlite":
            return CrawlStore(tmp_path / name)
        return CrawlStore(tmp_path / name, request.getfixturevalue("postgres_cluster").new_database())

    return new


def linked(rows: list[dict]) -> dict[str, str | None]:
    return {r["text"][:20]: r["article_url"] for r in rows if r["time"].startswith(("2025-08-01", "2025-08-04T06:50"))}


def test_flash_and_article_are_linked_whichever_is_stored_first(stores):
    expected = {
        "UN warns: Gaza faces": f"{PUBLIC}{UN_PATH}",
        "OPEC agrees to anoth": None,
        "Notorious Palantir l": None,
    }
    flash_first, article_first = stores("flash_first"), stores("article_first")
    site = FixtureSite()
    site.override("/", with_ticker(LINK_FLASHES))
    with FixtureServer(site) as srv:
        # the flash first, then the article
        breaking(srv, flash_first.workdir, settings=flash_first.settings)
        assert linked(flash_first.flashes()) == dict.fromkeys(expected)
        crawl = inprocess.crawl("feed", srv.url, flash_first.workdir, args={"js": "0"}, settings=flash_first.settings)
        assert linked(flash_first.flashes()) == expected
        assert crawl.stat("mayadeen/breaking/linked") == 1
        # the article first, then the flash: the stream record carries the link
        inprocess.crawl("feed", srv.url, article_first.workdir, args={"js": "0"}, settings=article_first.settings)
        then = breaking(srv, article_first.workdir, settings=article_first.settings)
    assert linked(article_first.flashes()) == expected
    assert linked(then.records()) == expected
    # the stream also has what the feed crawl harvested from the item pages' tickers: every stored flash
    assert {(r["time"], r["text"]) for r in then.records()} == {(r["time"], r["text"]) for r in article_first.flashes()}
    # the feed crawls harvested the ticker of the item pages into the same store
    assert {(r["time"], r["text"]) for r in flash_first.flashes()} >= set(STORED_FLASHES)


def test_postgresql_holds_the_flashes_as_sqlite_does(postgres_url, tmp_path):
    on_sqlite, on_postgresql = CrawlStore(tmp_path / "sqlite"), CrawlStore(tmp_path / "postgresql", postgres_url)
    with FixtureServer() as srv:
        breaking(srv, on_sqlite.workdir)
        first = breaking(srv, on_postgresql.workdir, settings=on_postgresql.settings)
        rows = on_postgresql.flashes()
        second = breaking(srv, on_postgresql.workdir, settings=on_postgresql.settings)
    assert not first.sqlite.exists()  # MAYADEEN_STORE_URL replaced the SQLite file
    assert len(rows) == 10 and all(r["first_seen"] == r["last_seen"] for r in rows)
    unseen = {"first_seen": None, "last_seen": None}  # when each run saw them
    assert [{**r, **unseen} for r in rows] == [{**r, **unseen} for r in on_sqlite.flashes()]
    assert first.records() == rows and first.stat("mayadeen/breaking/flashes/new") == 10
    # a second run: the same flashes, seen again, none stored twice nor streamed again
    again = on_postgresql.flashes()
    assert [{**r, "last_seen": None} for r in again] == [{**r, "last_seen": None} for r in rows]
    assert all(a["last_seen"] >= r["last_seen"] for a, r in zip(again, rows))
    assert (
        second.stat("mayadeen/breaking/flashes/unchanged") == 10
        and second.stat("mayadeen/breaking/flashes/new") is None
    )
    assert second.records() == first.records()
    with connect(StoreTarget(POSTGRESQL, postgres_url), readonly=True) as store:
        types = store.row(
            "SELECT pg_typeof(time)::text AS time, pg_typeof(time_estimated)::text AS estimated,"
            " pg_typeof(edits)::text AS edits, pg_typeof(search)::text AS search FROM breaking_news LIMIT 1"
        )
    assert types == {"time": "timestamp with time zone", "estimated": "boolean", "edits": "jsonb", "search": "tsvector"}
