"""Item pipelines with real Scrapy crawler objects: enrich, validate, dedupe, SQLite store.

The last tests run real crawls (``scrapy runspider`` in process, ``tests.inprocess``, no network: the
spider yields the expected records itself) through all four pipelines in their intended order.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import scrapy
from itemadapter import ItemAdapter
from scrapy.commands.runspider import Command as RunSpider
from scrapy.exceptions import DropItem, NotConfigured, ScrapyDeprecationWarning
from scrapy.settings import Settings
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.test import get_crawler
from twisted.internet.defer import gatherResults, maybeDeferred
from twisted.python.failure import Failure

from mayadeen.identity import Origin
from mayadeen.items import ArticleItem
from mayadeen.pipelines.dedupe import DedupePipeline
from mayadeen.pipelines.enrich import EnrichPipeline
from mayadeen.pipelines.store import SQLiteStorePipeline, StorePipeline, run_figures
from mayadeen.pipelines.validate import ValidatePipeline
from mayadeen.plain_record import plain_record
from mayadeen.preflight import waits_within_lease
from mayadeen.record import content_hash, validation_errors
from mayadeen.store.sqlite import ArticleStore
from tests import inprocess
from tests.fixture_server import FixtureServer

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = sorted((ROOT / "fixtures" / "expected").glob("*.json"))
PIPELINES = {
    "mayadeen.pipelines.enrich.EnrichPipeline": 100,
    "mayadeen.pipelines.validate.ValidatePipeline": 200,
    "mayadeen.pipelines.dedupe.DedupePipeline": 300,
    "mayadeen.pipelines.store.StorePipeline": 800,
}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def scraped(path: Path) -> dict:
    """An expected record as a spider yields it: without the keys the pipelines add."""
    return json.loads(path.read_text(encoding="utf-8"))


def enriched(path: Path) -> dict:
    record = scraped(path)
    record["scraped_at"] = "2025-08-04T12:30:00Z"
    record["content_hash"] = content_hash(record)
    return record


class ExampleSpider(scrapy.Spider):
    name = "example"


@pytest.fixture
def crawler():
    crawler = get_crawler(ExampleSpider)
    crawler.spider = ExampleSpider.from_crawler(crawler, section="news/politics", pages="2")
    return crawler


def stat(crawler, key):
    return crawler.stats.get_value(key)


# --- the record the pipelines read ------------------------------------------------------------------


@pytest.mark.parametrize("path", EXPECTED, ids=lambda p: p.stem)
def test_plain_record_is_the_item_adapters_dict_with_copied_containers(path):
    item = ArticleItem(**scraped(path))
    item["tags"] = ("a", "b")  # a tuple stays a tuple, as ItemAdapter.asdict keeps it
    record = plain_record(item)
    assert record == ItemAdapter(item).asdict()
    assert type(record) is dict and type(record["tags"]) is tuple
    for key, value in record.items():
        if isinstance(value, (list, dict)):
            assert value is not item[key]  # a later change of the record leaves the item alone


def test_plain_record_turns_nested_items_into_dicts():
    inner = ArticleItem(url="https://english.almayadeen.net/news/x", headline="X")
    record = plain_record({"related": [inner], "image": {"nested": inner}})
    assert record == {"related": [dict(inner)], "image": {"nested": dict(inner)}}
    assert type(record["related"][0]) is dict and type(record["image"]["nested"]) is dict


# --- enrich ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXPECTED, ids=lambda p: p.stem)
def test_enrich_completes_every_expected_record(crawler, path):
    item = ArticleItem(**scraped(path))
    out = EnrichPipeline().process_item(item)
    assert out is item
    assert TIMESTAMP.match(item["scraped_at"])
    assert item["content_hash"] == content_hash(scraped(path))
    assert validation_errors(dict(item)) == []


def test_enrich_stamps_now_in_utc():
    before = datetime.now(UTC).replace(microsecond=0)
    record = EnrichPipeline().process_item(scraped(EXPECTED[0]))
    stamped = datetime.strptime(record["scraped_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= stamped <= datetime.now(UTC) + timedelta(seconds=1)


def test_enrich_keeps_the_spiders_scraped_at_but_never_its_hash():
    record = scraped(EXPECTED[0]) | {"scraped_at": "2025-08-04T12:30:00Z", "content_hash": "0" * 64}
    EnrichPipeline().process_item(record)
    assert record["scraped_at"] == "2025-08-04T12:30:00Z"
    assert record["content_hash"] == content_hash(record) != "0" * 64


# --- validate --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXPECTED, ids=lambda p: p.stem)
def test_validate_passes_every_expected_record(crawler, path):
    item = ArticleItem(**enriched(path))
    assert ValidatePipeline.from_crawler(crawler).process_item(item) is item
    assert not any(key.startswith("mayadeen/dropped/") for key in crawler.stats.get_stats())


@pytest.mark.parametrize("key", ["url", "headline", "date_published"])
@pytest.mark.parametrize("how", ["absent", "none", "blank"])
def test_validate_drops_a_record_without_essentials(crawler, caplog, key, how):
    record = enriched(EXPECTED[0])
    if how == "absent":
        del record[key]
    else:
        record[key] = None if how == "none" else "  "
    with caplog.at_level(logging.DEBUG), pytest.raises(DropItem) as dropped:
        ValidatePipeline.from_crawler(crawler).process_item(ArticleItem(**record))
    assert stat(crawler, f"mayadeen/dropped/missing_{key}") == 1
    assert f"missing_{key}" in str(dropped.value)
    assert dropped.value.log_level == "DEBUG"  # our WARNING below replaces Scrapy's item dump
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.name == "mayadeen.pipelines.validate"
    assert f"missing_{key}" in warning.getMessage()
    page = record["url"] if key != "url" else "article_id='1957941'"
    assert page in warning.getMessage()


def test_validate_drops_a_schema_breach_naming_page_and_fields(crawler, caplog):
    record = enriched(EXPECTED[0])
    record["kind"] = "podcast"
    record["shares"] = "7"
    with caplog.at_level(logging.WARNING), pytest.raises(DropItem):
        ValidatePipeline.from_crawler(crawler).process_item(record)
    assert stat(crawler, "mayadeen/dropped/schema") == 1
    assert caplog.messages == [
        f"Dropped record of {record['url']} (schema): kind: 'podcast' is not one of "
        "['article', 'video', 'infograph', 'gallery']; shares: '7' is not of type 'integer', 'null'"
    ]


def test_validate_reports_few_of_many_errors(crawler, caplog):
    record = enriched(EXPECTED[0]) | {"kind": "podcast", "section": 2, "body": 3, "tags": 4, "shares": "5"}
    with caplog.at_level(logging.WARNING), pytest.raises(DropItem):
        ValidatePipeline.from_crawler(crawler).process_item(record)
    assert caplog.messages[0].endswith("; and 2 more")


def test_validate_drops_a_record_not_enriched(crawler):
    with pytest.raises(DropItem, match="scraped_at"):
        ValidatePipeline.from_crawler(crawler).process_item(scraped(EXPECTED[0]))
    assert stat(crawler, "mayadeen/dropped/schema") == 1


# --- dedupe ----------------------------------------------------------------------------------------


def test_dedupe_passes_distinct_records(crawler):
    pipeline = DedupePipeline.from_crawler(crawler)
    for path in EXPECTED:
        pipeline.process_item(enriched(path))
    assert not any(key.startswith("mayadeen/dropped/") for key in crawler.stats.get_stats())


@pytest.mark.parametrize("variant", ["", "/", "?utm_source=rss&utm_medium=feed", "#comments", "?fbclid=x"])
def test_dedupe_drops_the_same_url_again(crawler, caplog, variant):
    pipeline = DedupePipeline.from_crawler(crawler)
    first = enriched(EXPECTED[0])
    second = enriched(EXPECTED[0]) | {"url": first["url"] + variant, "article_id": "999"}
    assert pipeline.process_item(first) is first
    with caplog.at_level(logging.DEBUG), pytest.raises(DropItem) as dropped:
        pipeline.process_item(second)
    assert dropped.value.log_level == "DEBUG"
    assert stat(crawler, "mayadeen/dropped/duplicate_url") == 1
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, f"Dropped a second copy of {first['url']}: already scraped in this run")
    ]


def test_dedupe_drops_the_same_article_under_another_url(crawler, caplog):
    pipeline = DedupePipeline.from_crawler(crawler)
    new = enriched(EXPECTED[0])
    old_url = "https://english.almayadeen.net/news/politics/iraqs-pmf-law-a-test-of-sovereignty-amid-us-objections"
    pipeline.process_item(new)
    with caplog.at_level(logging.DEBUG), pytest.raises(DropItem):
        pipeline.process_item(new | {"url": old_url})
    assert stat(crawler, "mayadeen/dropped/duplicate_article_id") == 1
    assert stat(crawler, "mayadeen/dropped/duplicate_url") is None
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, f"Dropped {old_url}: article 1957941 was already scraped as {new['url']}")
    ]


def test_dedupe_state_is_per_run(crawler):
    DedupePipeline.from_crawler(crawler).process_item(enriched(EXPECTED[0]))
    DedupePipeline.from_crawler(get_crawler(ExampleSpider)).process_item(enriched(EXPECTED[0]))


# --- sqlite store pipeline (in process) ------------------------------------------------------------


def store_crawler(path, **settings):
    crawler = get_crawler(ExampleSpider, {"MAYADEEN_SQLITE_PATH": str(path), **settings})
    crawler.spider = ExampleSpider.from_crawler(crawler, section="news/politics")
    return crawler


@pytest.mark.parametrize("value", ["", "  ", None])
def test_store_pipeline_is_off_without_a_path(value):
    with pytest.raises(NotConfigured):
        StorePipeline.from_crawler(get_crawler(ExampleSpider, {"MAYADEEN_SQLITE_PATH": value}))


def on_reactor(call, *args, **kwargs):
    """``call(*args, **kwargs)`` on the tests' running reactor; its result, once its Deferred (if any) has fired."""
    done, out = threading.Event(), []

    def start() -> None:
        maybeDeferred(call, *args, **kwargs).addBoth(lambda result: (out.append(result), done.set()))

    inprocess.reactor().callFromThread(start)
    assert done.wait(60), f"{call} did not finish"
    if isinstance(out[0], Failure):
        out[0].raiseException()
    return out[0]


def test_store_pipeline_stores_counts_and_files_the_run(tmp_path):
    path = tmp_path / "data" / "sub" / "mayadeen.sqlite"
    crawler = store_crawler(path)
    pipeline = StorePipeline.from_crawler(crawler)
    on_reactor(lambda: deferred_from_coro(pipeline.open_spider()))
    assert path.parent.is_dir()
    assert stat(crawler, "mayadeen/run_id") == 1
    records = [enriched(p) for p in EXPECTED]
    items = [ArticleItem(**record) for record in records]
    changed = records[1] | {"headline": "A new headline"}
    items += [records[0], changed | {"content_hash": content_hash(changed)}]
    # Written off the reactor, in order: the Deferreds fire with the items once stored.
    stored = on_reactor(lambda: gatherResults([deferred_from_coro(pipeline.process_item(item)) for item in items]))
    assert stored == items
    assert stat(crawler, "mayadeen/items/new") == 14
    assert stat(crawler, "mayadeen/items/unchanged") == 1
    assert stat(crawler, "mayadeen/items/updated") == 1
    crawler.stats.set_value("downloader/request_count", 20)
    crawler.stats.set_value("downloader/response_status_count/200", 17)
    crawler.stats.set_value("downloader/response_status_count/404", 3)
    crawler.stats.set_value("log_count/ERROR", 1)
    crawler.stats.set_value("item_dropped_count", 2)

    signals = crawler.signals
    on_reactor(
        lambda: deferred_from_coro(
            signals.send_catch_log_async(scrapy.signals.spider_closed, spider=crawler.spider, reason="finished")
        )
    )
    assert pipeline.writer is not None  # others may still add to the run
    on_reactor(lambda: deferred_from_coro(signals.send_catch_log_async(scrapy.signals.engine_stopped)))
    assert pipeline.reader is None and pipeline.writer is None
    with ArticleStore(path) as store:
        assert store.count() == 14
        (run,) = store.runs()
    assert run["spider"] == "example" and run["arguments"] == {"section": "news/politics"}
    assert TIMESTAMP.match(run["started_at"]) and TIMESTAMP.match(run["finished_at"])
    assert (run["items_new"], run["items_updated"], run["items_unchanged"], run["items_dropped"]) == (14, 1, 1, 2)
    assert (run["requests"], run["responses_by_status"], run["errors"]) == (20, {"200": 17, "404": 3}, 1)
    assert run["finish_reason"] == "finished" and run["coverage"] is None


def test_the_origin_travels_in_the_item_and_in_no_record(tmp_path, crawler):
    """How an item was found reaches the store with the item itself (no table keyed by url or id() that
    a dropped item would leave behind), and is no key of the record."""
    record = enriched(EXPECTED[0])
    alias = record["url"] + "-old-address"
    item = ArticleItem(**record)
    item.note_origin(Origin(frozenset({alias}), "2025-08-09T00:00:00Z"))
    assert ItemAdapter(item).asdict() == record
    assert ValidatePipeline.from_crawler(crawler).process_item(item) is item
    assert ArticleItem(**record).origin() is None
    pipeline = StorePipeline.from_crawler(store_crawler(tmp_path / "s.sqlite"))
    on_reactor(lambda: deferred_from_coro(pipeline.open_spider()))
    unnoted = ArticleItem(**enriched(EXPECTED[1]))  # noted with no origin: none stored
    on_reactor(lambda: gatherResults([deferred_from_coro(pipeline.process_item(i)) for i in (item, unnoted)]))
    assert on_reactor(pipeline.reader.submit, lambda store: store.get(alias))["url"] == record["url"]


def test_the_old_pipeline_name_still_stores_and_warns(tmp_path):
    crawler = store_crawler(tmp_path / "s.sqlite")
    with pytest.warns(ScrapyDeprecationWarning, match="StorePipeline"):
        pipeline = SQLiteStorePipeline.from_crawler(crawler)
    assert isinstance(pipeline, StorePipeline)


def test_store_pipeline_waits_for_other_writers_as_configured(tmp_path):
    crawler = store_crawler(tmp_path / "s.sqlite", MAYADEEN_SQLITE_BUSY_TIMEOUT="0.3")
    assert StorePipeline.from_crawler(crawler).busy_timeout == 0.3


def test_run_figures_default_to_zero():
    assert run_figures({}) == {
        "items_new": 0, "items_updated": 0, "items_unchanged": 0, "items_dropped": 0, "items_seen": 0,
        "requests": 0, "responses_by_status": {}, "errors": 0,
    }  # fmt: skip


# --- real crawls -----------------------------------------------------------------------------------

SPIDER = textwrap.dedent(
    """
    import json
    import scrapy

    class RecordsSpider(scrapy.Spider):
        '''Yields the records of a JSON file as items: the pipelines' input without any network.

        They come from the callback of a data: URL, not from start(): the engine sees a response's
        items through and closes at once; items from start() wait for its 5 s idle heartbeat.'''
        name = "records"

        async def start(self):
            yield scrapy.Request("data:,")

        def parse(self, response):
            with open(self.records, encoding="utf-8") as f:
                yield from json.load(f)
    """
)


def crawl(tmp_path: Path, db: Path, records: list[dict]) -> inprocess.CommandResult:
    (tmp_path / "records_spider.py").write_text(SPIDER, encoding="utf-8")
    records_file = tmp_path / "records.json"
    records_file.write_text(json.dumps(records), encoding="utf-8")
    settings = {
        "ITEM_PIPELINES": json.dumps(PIPELINES),
        "MAYADEEN_SQLITE_PATH": str(db),
        "REMOTE_CONTROL_ENABLED": "False",
        "TELNETCONSOLE_ENABLED": "False",
        "LOG_LEVEL": "INFO",
    }
    argv = ["runspider", str(tmp_path / "records_spider.py"), "-a", f"records={records_file}"]
    for name, value in settings.items():
        argv += ["-s", f"{name}={value}"]
    # Scrapy's defaults, not the project's (as runspider outside a project): its FEEDS must not write here.
    return inprocess.command(RunSpider(), argv, Settings(), timeout=60)


def test_crawls_through_all_pipelines_into_the_store(tmp_path):
    db = tmp_path / "data" / "mayadeen.sqlite"
    records = [scraped(p) for p in EXPECTED]
    invalid = scraped(EXPECTED[1]) | {"url": None}
    duplicate = scraped(EXPECTED[2])
    result = crawl(tmp_path, db, [*records, invalid, duplicate])
    assert result.returncode == 0, result.log
    assert "'finish_reason': 'finished'" in result.log
    assert "WARNING: Dropped record of <no url; article_id=" in result.log

    changed = records[3] | {"body": records[3]["body"] + "\n\nA correction was added."}
    result = crawl(tmp_path, db, [*records[:3], changed, *records[4:]])
    assert result.returncode == 0, result.log

    with ArticleStore(db, readonly=True) as store:
        assert store.count() == 14
        first, second = store.runs()
        assert store.get(changed["url"])["revision"] == 2
        assert store.revisions(changed["url"])[0]["record"]["body"] == records[3]["body"]
    assert first["spider"] == "records" and first["arguments"] == {"records": str(tmp_path / "records.json")}
    assert (first["items_new"], first["items_updated"], first["items_unchanged"], first["items_dropped"]) == (
        14, 0, 0, 2,
    )  # fmt: skip
    assert (second["items_new"], second["items_updated"], second["items_unchanged"]) == (0, 1, 13)
    assert (first["requests"], first["errors"], first["finish_reason"]) == (1, 0, "finished")  # the data: URL
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_crawl_stores_while_another_writer_has_the_store_open(tmp_path):
    db = tmp_path / "mayadeen.sqlite"
    with ArticleStore(db) as other:
        other.start_run("another")
        result = crawl(tmp_path, db, [scraped(p) for p in EXPECTED])
        assert result.returncode == 0, result.log
        assert other.count() == 14 and [r["spider"] for r in other.runs()] == ["another", "records"]
    assert "'mayadeen/items/new': 14" in result.log


@pytest.mark.parametrize("wait", ["30", "45"])
def test_a_distributed_crawl_whose_store_wait_on_the_reactor_could_outlast_its_leases_is_refused(tmp_path, wait):
    settings = {
        "MAYADEEN_REDIS_URL": "redis://127.0.0.1:1/0",  # never reached: refused before
        "MAYADEEN_REDIS_LEASE_TTL": "30",
        "MAYADEEN_STORE_REACTOR_TIMEOUT": wait,
    }
    with FixtureServer() as srv:
        result = inprocess.crawl("sitemap", srv.url, tmp_path, settings=settings, check=False, timeout=60)
        assert srv.paths() == []
    assert result.returncode == 2 and len(result.log.strip().splitlines()) == 1
    assert f"-s MAYADEEN_STORE_REACTOR_TIMEOUT={wait} is not below -s MAYADEEN_REDIS_LEASE_TTL=30" in result.log


def test_a_shorter_store_wait_or_no_leases_is_accepted():
    waits_within_lease(Settings({"MAYADEEN_REDIS_URL": "redis://db", "MAYADEEN_STORE_REACTOR_TIMEOUT": "29.5"}))
    waits_within_lease(Settings({"MAYADEEN_STORE_REACTOR_TIMEOUT": "300"}))  # not distributed: no lease


@pytest.mark.parametrize(
    "column, said, lost",
    [
        ("finished_at", "Could not file the figures of crawl run 1 in ", "run_figures"),
        ("coverage", "Could not store the field coverage of run 1 in ", "coverage"),
    ],
)
def test_a_store_that_refuses_the_runs_figures_at_the_close_fails_the_run_in_one_line(tmp_path, column, said, lost):
    """The store takes the items but refuses the run's figures, or its field coverage, when the spider
    closes (a trigger on ``crawl_runs``, made before the crawl): one ERROR line, a counter, the run
    failed (exit 1), and no traceback from the ``spider_closed`` handler."""
    db = tmp_path / "mayadeen.sqlite"
    with ArticleStore(db):
        pass  # the store's tables, for the trigger
    with sqlite3.connect(db) as con:
        con.execute(
            f"CREATE TRIGGER refuse BEFORE UPDATE OF {column} ON crawl_runs"
            " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    with FixtureServer() as srv:
        result = inprocess.crawl("sitemap", srv.url, tmp_path, settings={"MAYADEEN_WARC_DIR": ""}, check=False)
    log = result.log
    summary = next(line for line in log.splitlines() if "Run summary: " in line)
    assert result.returncode == 1 and "result=FAILED (lost_records)" in summary, log[-3000:]
    assert said in log and "refused by the test" in log
    assert "Error caught on signal handler" not in log and "Traceback" not in log, log[-3000:]
    assert result.stat(f"mayadeen/lost/{lost}") == 1
    with ArticleStore(db, readonly=True) as store:
        assert store.count() == 14
