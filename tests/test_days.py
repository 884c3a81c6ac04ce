"""One meaning of a day (``mayadeen.days``): a Beirut day, for the crawl window, the export and the
re-extraction (whose own boundary test is in test_warc_archive.py; the crawl's ``-h`` is checked in
test_inputs.py).

The boundaries are written out by hand: 23:30 UTC on 4 August is 02:30 on 5 August in Beirut (UTC+3
in summer); 22:30 UTC on 31 January is 00:30 on 1 February (UTC+2 in winter).
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from scrapy.cmdline import execute

from mayadeen.days import DayWindow, day_start, site_day
from mayadeen.pages.ticker import TickerEntry
from mayadeen.record import content_hash
from mayadeen.store.breaking import BreakingStore
from mayadeen.store.engines import connect
from mayadeen.store.read import Selection, StoreSnapshot
from tests import inprocess
from tests.conftest import FIXTURES

AUG4, AUG5 = date(2025, 8, 4), date(2025, 8, 5)
LATE = "2025-08-04T23:30:00Z"  # 02:30 on 5 August in Beirut
EVENING = "2025-08-04T20:59:59Z"  # 23:59:59 on 4 August in Beirut


def test_a_day_is_the_beirut_day_in_summer_and_in_winter():
    assert site_day(LATE) == AUG5 and site_day(EVENING) == AUG4
    assert day_start(AUG5) == "2025-08-04T21:00:00Z"
    assert day_start(date(2025, 2, 1)) == "2025-01-31T22:00:00Z"
    assert DayWindow(AUG5, AUG5).bounds() == ("2025-08-04T21:00:00Z", "2025-08-05T21:00:00Z")
    assert DayWindow(until=date(2025, 1, 31)).bounds() == (None, "2025-01-31T22:00:00Z")
    assert DayWindow(AUG5, AUG5).holds(LATE) and not DayWindow(AUG4, AUG4).holds(LATE)
    assert DayWindow(AUG4, AUG4).holds(EVENING) and DayWindow().holds(LATE)
    assert DayWindow(AUG4, AUG4).holds("2025-08-04T21:00:00.5Z") is False  # a WARC-Date, with a fraction


def _record(name: str, published: str) -> dict:
    record = json.loads((FIXTURES / "expected" / name).read_text("utf-8"))
    record |= {"date_published": published, "scraped_at": "2025-08-05T00:00:00Z"}
    record["content_hash"] = content_hash(record)
    return record


def test_export_selects_items_and_flashes_by_their_beirut_day(target):
    late, evening = sorted((FIXTURES / "expected").glob("*.json"))[:2]
    with connect(target) as store:
        store.upsert(_record(late.name, LATE))
        store.upsert(_record(evening.name, EVENING))
        BreakingStore(store).record(
            [TickerEntry("A late flash", LATE, None, "en"), TickerEntry("An evening flash", EVENING, None, "en")]
        )
    with StoreSnapshot(target) as snapshot:

        def published(since, until) -> list[str]:
            return [r["date_published"] for r in snapshot.articles(Selection(since=since, until=until))]

        def flashes(since, until) -> list[str]:
            return [r["time"] for r in snapshot.flashes(Selection(since=since, until=until))]

        assert published(AUG5, AUG5) == [LATE] and flashes(AUG5, AUG5) == [LATE]
        assert published(AUG4, AUG4) == [EVENING] and flashes(AUG4, AUG4) == [EVENING]
        assert published(None, AUG4) == [EVENING] and published(AUG5, None) == [LATE]


@pytest.mark.parametrize(
    "name, since",
    [
        ("export", "--since YYYY-MM-DD only items published (and flashes dated) on or after this day"),
        ("reextract", "--since YYYY-MM-DD captures fetched on or after this day"),
    ],
)
def test_each_command_help_names_the_zone_and_the_date(name, since, capsys):
    # scrapy's own command line in this process: `-h` prints the help and exits before any crawl.
    with pytest.raises(SystemExit) as exited:
        execute(["scrapy", name, "-h"], inprocess.project_settings())
    shown = " ".join(capsys.readouterr().out.split())
    assert exited.value.code == 0 and f"{since} (Beirut time, Asia/Beirut)" in shown
    assert "on or before this day (Beirut time, Asia/Beirut)" in shown and "UTC day" not in shown
