"""Crawls into a real PostgreSQL store: exact records, incremental runs, crawls storing at once, and
the server restarted mid-crawl.

The store's own semantics on both engines are in test_sqlite_store.py; here the whole crawl writes
through ``MAYADEEN_STORE_URL`` to a database of the session's cluster (conftest ``postgres_cluster``).
"""

from __future__ import annotations

import psycopg
import pytest
from warcio.archiveiterator import ArchiveIterator

from mayadeen.record import content_hash
from mayadeen.store.captures import latest_capture
from mayadeen.store.engines import POSTGRESQL, SQLITE, StoreTarget, connect, parse_store_url, store_target
from tests.conftest import expected_records
from tests.fixture_server import FixtureServer, FixtureSite
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import CHANGED_PATH, SlowServer, change_item, item_paths, start_crawl, wait_for
from tests.test_warc_archive import (
    assert_parser_change_reported,
    assert_parser_change_stored,
    change_the_parser,
    reextract,
)

P = "https://english.almayadeen.net"


def stored_records(url: str) -> dict[str, dict]:
    with connect(StoreTarget(POSTGRESQL, url), readonly=True) as store:
        return {r["url"]: r for r in store.iter_records()}


def runs(url: str) -> list[dict]:
    with connect(StoreTarget(POSTGRESQL, url), readonly=True) as store:
        return store.runs()


@pytest.fixture(scope="module")
def site_and_server():
    site = FixtureSite()
    with FixtureServer(site) as srv:
        yield site, srv


@pytest.fixture(scope="module")
def pg_crawl(postgres_cluster, site_and_server, tmp_path_factory):
    """One sitemap crawl of the fixture mirror into a new PostgreSQL database."""
    _, srv = site_and_server
    url = postgres_cluster.new_database()
    workdir = tmp_path_factory.mktemp("pg")
    result = crawl_in_process("sitemap", srv.url, workdir, settings={"MAYADEEN_STORE_URL": url})
    return url, result, srv


# --- the store URL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "engine", "location"), [
    ("sqlite:///data/m.sqlite", SQLITE, "data/m.sqlite"),
    ("sqlite:////var/lib/m.sqlite", SQLITE, "/var/lib/m.sqlite"),
    ("postgresql://crawler@db.example:5433/mayadeen", POSTGRESQL, "postgresql://crawler@db.example:5433/mayadeen"),
    ("postgres://db/mayadeen?sslmode=require", POSTGRESQL, "postgres://db/mayadeen?sslmode=require"),
])  # fmt: skip
def test_store_urls(url, engine, location):
    assert parse_store_url(url) == StoreTarget(engine, location)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://db/m",
        "sqlite://",
        "sqlite:///",
        "postgresql://db",
        "postgresql://db/",
        "postgresql://db:port/m",
        "postgresql:///m",
        "data/m.sqlite",
    ],
)
def test_bad_store_urls_are_refused(url):
    with pytest.raises(ValueError, match="takes sqlite:///"):
        parse_store_url(url)


def test_the_store_url_replaces_the_sqlite_path_and_hides_its_password():
    settings = {"MAYADEEN_SQLITE_PATH": "data/m.sqlite"}
    assert store_target(settings) == StoreTarget(SQLITE, "data/m.sqlite")
    target = store_target({**settings, "MAYADEEN_STORE_URL": "postgresql://u:s3cret@h:5/db"})
    assert target.engine == POSTGRESQL and str(target) == "postgresql://u:***@h:5/db"
    assert store_target({"MAYADEEN_SQLITE_PATH": " "}) is None


# --- a crawl into PostgreSQL -----------------------------------------------------------------------


def test_a_crawl_stores_exactly_the_expected_records(pg_crawl):
    url, result, _ = pg_crawl
    expected = expected_records()
    rows = stored_records(url)
    assert sorted(rows) == sorted(expected)
    feed = {r["url"]: r for r in result.records()}
    for item_url, record in rows.items():
        assert {k: record[k] for k in expected[item_url]} == expected[item_url], item_url
        assert set(record) == set(expected[item_url]) | {"scraped_at", "content_hash"}
        assert record == feed[item_url]  # the store gives back what the crawl wrote, byte for byte in JSON
        assert record["content_hash"] == content_hash(record)
    assert not result.sqlite.exists()  # MAYADEEN_STORE_URL replaced MAYADEEN_SQLITE_PATH
    run = runs(url)[0]  # this crawl's (a later test adds a second run)
    assert (run["items_new"], run["items_updated"], run["finish_reason"], run["result"]) == (14, 0, "finished", "ok")
    assert run["host"] and run["pid"] and run["started_at"] <= run["finished_at"]


def test_readers_get_postgresql_types(pg_crawl):
    url, _, _ = pg_crawl
    with psycopg.connect(url) as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'articles'"
            ).fetchall()
        )
        assert {types[c] for c in ("tags", "authors", "images", "related", "video", "image")} == {"jsonb"}
        assert {types[c] for c in ("date_published", "date_modified", "scraped_at", "first_seen")} == {
            "timestamp with time zone"
        }
        assert types["word_count"] == "integer" and types["body"] == "text"
        # SQL users reach into the JSON and compare dates as dates
        videos = conn.execute(
            "SELECT count(*) FROM articles WHERE (video ->> 'duration_seconds')::int > 0 AND date_published < now()"
        ).fetchone()[0]
    assert videos == sum(1 for r in expected_records().values() if (r["video"] or {}).get("duration_seconds"))
    assert videos > 0


def test_a_second_crawl_asks_postgresql_and_fetches_no_item_page(pg_crawl, tmp_path):
    url, _, srv = pg_crawl
    before = len(srv.paths())
    second = crawl_in_process("sitemap", srv.url, tmp_path, settings={"MAYADEEN_STORE_URL": url})
    assert item_paths(srv.paths()[before:]) == [] and second.records() == []
    last = runs(url)[-1]
    assert (last["items_new"], last["items_unchanged"], last["result"]) == (0, 0, "ok")
    assert len(stored_records(url)) == 14


# --- crawls storing the same items at once ---------------------------------------------------------


def crawl_twice_at_once(srv, url: str, workdir, name: str) -> list[dict]:
    """Two ``sitemap -a full=1`` crawls started together into ``url``; their JSON Lines records."""
    crawls = [
        start_crawl(
            "sitemap", srv.url, workdir / f"{name}-{n}", args={"full": "1"}, settings={"MAYADEEN_STORE_URL": url}
        )
        for n in (1, 2)
    ]
    for crawl in crawls:
        wait_for(lambda c=crawl: c.poll() is not None, timeout=240, step=0.1)
        assert crawl.returncode == 0, (workdir / f"{name}-1" / "killed.log").read_text()[-3000:]
    return [(workdir / f"{name}-{n}" / "articles.jsonl").read_text("utf-8") for n in (1, 2)]


@pytest.mark.soak
def test_two_crawls_at_once_store_each_item_once_and_each_change_once(postgres_url, tmp_path):
    site = FixtureSite()
    with FixtureServer(site) as srv:
        outputs = crawl_twice_at_once(srv, postgres_url, tmp_path, "first")
        assert all(text.count("\n") == 14 for text in outputs)  # each crawl fetched every item...
        first = stored_records(postgres_url)
        assert len(first) == 14  # ...and each item has one row
        new_runs = runs(postgres_url)
        assert sum(r["items_new"] for r in new_runs) == 14 and sum(r["items_unchanged"] for r in new_runs) == 14

        change_item(site)
        crawl_twice_at_once(srv, postgres_url, tmp_path, "second")
    changed_url = P + CHANGED_PATH
    later = runs(postgres_url)[2:]
    assert sum(r["items_updated"] for r in later) == 1  # one crawl stored the change, the other found it stored
    assert sum(r["items_unchanged"] for r in later) == 27 and sum(r["items_new"] for r in later) == 0
    with connect(StoreTarget(POSTGRESQL, postgres_url), readonly=True) as store:
        assert store.count() == 14
        (revision,) = store.revisions(changed_url)  # exactly one revision: the version before the change
        assert revision["record"] == first[changed_url] and revision["revision"] == 1
        current = store.get(changed_url)
        assert current["revision"] == 2 and current["content_hash"] != first[changed_url]["content_hash"]
        assert all(store.revisions(u) == [] for u in first if u != changed_url)


# --- the server going away -------------------------------------------------------------------------


@pytest.mark.soak
def test_postgresql_restarted_mid_crawl_loses_nothing(tmp_path):
    from tests.postgres_server import PostgresCluster

    cluster = PostgresCluster().start()  # its own: the session's cluster stays up for the other tests
    try:
        url = cluster.new_database()
        with SlowServer(delay=0.25) as srv:
            crawl = start_crawl(
                "sitemap",
                srv.url,
                tmp_path,
                settings={"MAYADEEN_STORE_URL": url, "CONCURRENT_REQUESTS": "2", "CONCURRENT_REQUESTS_PER_DOMAIN": "2"},
            )
            wait_for(lambda: count_or_none(url) >= 2, timeout=120, step=0.1)
            cluster.stop_server()
            # the crawl goes on fetching; its writes wait for the server, as its log says
            wait_for(lambda: "unreachable" in (tmp_path / "killed.log").read_text(), timeout=60, step=0.05)
            cluster.start_server()
            wait_for(lambda: crawl.poll() is not None, timeout=240, step=0.1)
        log = (tmp_path / "killed.log").read_text()
        assert crawl.returncode == 0, log[-3000:]
        assert "unreachable" in log and "result=ok" in log.strip().splitlines()[-1]
        rows = stored_records(url)
        expected = expected_records()
        assert sorted(rows) == sorted(expected)
        for item_url, record in rows.items():
            assert {k: record[k] for k in expected[item_url]} == expected[item_url], item_url
        (run,) = runs(url)
        assert (run["items_new"] + run["items_unchanged"], run["result"]) == (14, "ok")
    finally:
        cluster.stop()


def test_a_transaction_on_a_connection_lost_earlier_waits_for_the_server_too():
    """A read that found the server gone leaves the connection closed; the next transaction (a
    freshness lookup, or any ``read``/``write``: a closed connection is no transaction open) gets its
    whole retry window to connect again, as the first did, instead of failing at once with "connection
    refused"."""
    import threading

    from tests.postgres_server import PostgresCluster
    from tests.test_store_off_reactor import Said

    cluster = PostgresCluster().start()  # its own: the session's cluster stays up for the other tests
    calls = {
        "lookup": lambda store: store.lookup([P + "/news/politics/x"]) == {},
        "read": lambda store: store.read(store.count) == 0,
        "write": lambda store: store.write(store.count) == 0,
    }
    try:
        url = cluster.new_database()
        for name, call in calls.items():
            with (
                Said("mayadeen.store.postgres", "unreachable") as retrying,
                connect(StoreTarget(POSTGRESQL, url), retry_timeout=60) as store,
            ):
                cluster.stop_server()
                with pytest.raises(psycopg.OperationalError):
                    store.count()  # a read outside any transaction: not retried, the connection is closed
                assert store.conn.closed

                def start_when_retrying(retrying=retrying):
                    if retrying.seen.wait(60):
                        cluster.start_server()

                starter = threading.Thread(target=start_when_retrying)
                starter.start()
                try:
                    assert call(store), name  # waited for the server, then answered
                finally:
                    retrying.seen.set()
                    starter.join()
    finally:
        cluster.stop()


def test_an_outage_longer_than_the_retry_window_is_waited_out_once(caplog):
    """The retry window is the outage's: the transaction that ran it out fails, and the next ones try
    the server once each and fail without waiting out a window of their own (a crawl's items would each
    hold it up that long); the first transaction once the server is back stores, however soon after a
    failed one (the run's closing writes come right after its last lost item)."""
    from tests.postgres_server import PostgresCluster
    from tests.test_store_off_reactor import Said

    cluster = PostgresCluster().start()  # its own: the session's cluster stays up for the other tests
    try:
        url = cluster.new_database()
        with connect(StoreTarget(POSTGRESQL, url), retry_timeout=0.5) as store:
            cluster.stop_server()
            with Said("mayadeen.store.postgres", "longer than its retry window") as ran_out:
                with pytest.raises(psycopg.OperationalError):
                    store.lookup([P + "/news/politics/x"])
            assert ran_out.seen.is_set()
            with Said("mayadeen.store.postgres", "retrying for") as retried:
                with pytest.raises(psycopg.OperationalError, match="connect|server|closed"):
                    store.lookup([P + "/news/politics/x"])
                with pytest.raises(psycopg.OperationalError):
                    store.write(store.count)
            assert not retried.seen.is_set()  # one attempt each, no window of their own
            cluster.start_server()
            caplog.set_level("INFO", logger="mayadeen.store.postgres")
            with Said("mayadeen.store.postgres", "answers again") as back:
                assert answers(store)  # at once: no refusal for having failed a moment ago
            assert back.seen.is_set()
    finally:
        cluster.stop()


def answers(store) -> bool:
    """Whether a transaction on ``store`` went through (False while it fails)."""
    try:
        store.write(store.count)
    except psycopg.OperationalError:
        return False
    return True


def count_or_none(url: str) -> int:
    """Items stored so far (0 before the tables exist)."""
    try:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    except psycopg.Error:
        return 0


# --- the WARC archive on PostgreSQL ----------------------------------------------------------------


def test_each_items_capture_is_indexed_in_its_transaction(pg_crawl):
    url, result, _ = pg_crawl
    warc = result.jsonl.parent / "warc"
    expected = expected_records()
    with connect(StoreTarget(POSTGRESQL, url), readonly=True) as store:
        rows = store.rows("SELECT url, warc_type FROM warc_captures")
        assert sorted((r["url"], r["warc_type"]) for r in rows) == sorted((u, "response") for u in expected)
        for page, want in expected.items():
            latest = latest_capture(store, article_id=want["article_id"])
            assert latest == latest_capture(store, url=page) and latest["status"] == 200
            assert store.get(page)["scraped_at"] == latest["fetched_at"][:19] + "Z"
            with (warc / latest["warc_file"]).open("rb") as f:
                f.seek(latest["warc_offset"])
                record = next(iter(ArchiveIterator(f)))
            assert record.rec_headers.get_header("WARC-Target-URI") == page
            assert record.rec_headers.get_header("WARC-Payload-Digest") == latest["digest"]


def test_reextract_into_postgresql_gives_every_record_then_files_a_parser_change(
    pg_crawl, postgres_cluster, monkeypatch
):
    url, result, _ = pg_crawl
    warc, fresh = result.jsonl.parent / "warc", postgres_cluster.new_database()
    proc = reextract(warc, fresh)
    assert proc.returncode == 0, proc.log[-4000:]
    assert "Re-extraction report: 0 records changed, 0 unchanged, 14 new" in proc.log
    expected = expected_records()
    rebuilt = stored_records(fresh)
    assert {u: {k: r[k] for k in expected[u]} for u, r in rebuilt.items()} == expected
    with (
        connect(StoreTarget(POSTGRESQL, fresh), readonly=True) as store,
        connect(StoreTarget(POSTGRESQL, url), readonly=True) as crawled,
    ):
        assert all(latest_capture(store, url=u) == latest_capture(crawled, url=u) for u in expected)
    change_the_parser(monkeypatch)
    changed = reextract(warc, fresh)
    assert_parser_change_reported(changed)
    with connect(StoreTarget(POSTGRESQL, fresh), readonly=True) as store:
        assert_parser_change_stored(store)
        assert [r["spider"] for r in store.runs()] == ["reextract", "reextract"]
