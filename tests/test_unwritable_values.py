"""Values from the site that no store or feed could write as they came, in real crawls of the fixtures.

Half of a UTF-16 pair in a page's JSON-LD (an emoji's escape cut in two) cannot be encoded by SQLite,
PostgreSQL or a UTF-8 feed: it becomes U+FFFD, and the record is kept. An image address with a
space in it breaks no rule once escaped as a browser would (``%20``): it was a schema violation that
dropped the whole record. A record the store still cannot write is lost loudly: counted, one ERROR,
a failed run, never a run that says ok.
"""

from __future__ import annotations

import sqlite3

from mayadeen.urls import PUBLIC_URL
from tests.conftest import expected_records
from tests.fault_server import FaultServer
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import stored
from tests.test_exit_status import last_line

HEALTH = "/news/health/who-warns-of-rising-heat-related-illness-as-summer-temperatures-soar"
OPEC = "/news/economy/opec-agrees-to-another-large-oil-output-hike-for-september"


def test_a_lone_surrogate_and_a_spaced_image_address_keep_their_records(tmp_path):
    expected = expected_records()
    with FaultServer() as srv:
        page = srv.site.body(HEALTH).decode("utf-8")
        # the section only in JSON-LD (no meta tag), with half an escaped emoji after it
        page = page.replace('"articleSection": "Health"', '"articleSection": "Health\\ud83d"', 1)
        page = page.replace('<meta property="article:section" content="Health">', "", 1)
        assert '"Health\\ud83d"' in page and 'property="article:section"' not in page
        srv.site.override(HEALTH, page)
        image = expected[PUBLIC_URL + OPEC]["image"]["url"]
        spaced = image.removesuffix(".jpg") + " (1).jpg"
        srv.site.override(OPEC, srv.site.body(OPEC).replace(image.encode(), spaced.encode()))
        run = crawl_in_process("feed", srv.url, tmp_path)
    records = {r["url"]: r for r in run.records()}
    assert records[PUBLIC_URL + HEALTH]["section"] == "Health\ufffd"
    assert records[PUBLIC_URL + OPEC]["image"]["url"] == spaced.replace(" ", "%20")
    assert run.stat("mayadeen/lost/store") is None and run.stat("item_dropped_count") in (None, 1)
    assert {PUBLIC_URL + HEALTH, PUBLIC_URL + OPEC} <= set(stored(tmp_path / "mayadeen.sqlite"))
    assert "Dropped record" not in run.log and "Traceback" not in run.log


def test_a_record_the_store_cannot_encode_is_lost_loudly(tmp_path, monkeypatch):
    from mayadeen.store.sqlite import ArticleStore

    url = PUBLIC_URL + HEALTH
    upsert = ArticleStore.upsert

    def cannot_encode(self, record, *args, **kwargs):
        if record.get("url") == url:  # what sqlite3 raised for a lone surrogate
            raise UnicodeEncodeError("utf-8", "\ud83d", 0, 1, "surrogates not allowed")
        return upsert(self, record, *args, **kwargs)

    monkeypatch.setattr(ArticleStore, "upsert", cannot_encode)
    with FaultServer() as srv:
        run = crawl_in_process("feed", srv.url, tmp_path, check=False)
    assert run.returncode == 1 and run.stat("mayadeen/lost/store") == 1  # was: exit 0, result=ok, errors=1
    assert f"ERROR: Could not store {url} in " in run.log
    assert "result=FAILED (lost_records)" in last_line(run) and " lost=1 lost_in=store " in last_line(run)
    with sqlite3.connect(tmp_path / "mayadeen.sqlite") as db:
        assert db.execute("SELECT count(*) FROM articles WHERE url = ?", (url,)).fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == len(expected_records()) - 1
