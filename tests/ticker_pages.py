"""Home pages with a different breaking ticker, built at test time from the stored home page, and
the ``breaking_news`` rows a crawl left.

The stored page is never edited: ``with_ticker`` puts other ``<li>`` items into a copy of it,
``without_ticker`` drops the ticker list altogether.
"""

from __future__ import annotations

import html
import re
import sqlite3

from tests.fixture_server import FIXTURES

HOME_FILE = FIXTURES / "www" / "index.html"
_TICKER = re.compile(r'(<ul class="breaking-ticker" id="breaking-ticker">)(.*?)(\s*</ul>)', re.S)

#: The ten flashes of the stored home page, newest first: (UTC time, text), written out by hand from
#: fixtures/www/index.html (data-time is +03:00).
STORED_FLASHES = [
    ("2025-08-04T12:18:00Z", "Trump: We want to feed the people in Gaza, we do not want them to starve."),
    ("2025-08-04T12:02:00Z", "US President Donald Trump: We will impose sanctions on Russia if it does not end the war on Ukraine."),
    ("2025-08-04T11:47:00Z", "Israeli media: Polls show that 52% oppose Prime Minister Benjamin Netanyahu while only 29% support him."),
    ("2025-08-04T11:31:00Z", "Israeli media: 32% of Americans still support \"Israel's\" war on Hamas, while 60% oppose it."),
    ("2025-08-04T11:10:00Z", "Israeli media: Core US support for \"Israel\" hits its lowest, while support for Palestine reaches its highest levels."),
    ("2025-08-04T10:52:00Z", "Al Mayadeen's correspondent reports martyrs, injuries in Israeli bombardment of home in Heker al-Jame area in Deir al-Balah, central Gaza."),
    ("2025-08-04T10:25:00Z", "Al-Quds Governorate: Today, the spatial division of Al-Aqsa Mosque began in a public and dangerous manner, and we warn of a religious war in the region"),
    ("2025-08-04T09:58:00Z", "The Ministry of Health in Gaza: This brings the total number of victims of famine and malnutrition to 175, including 93 children"),
    ("2025-08-04T09:57:00Z", "The Ministry of Health in Gaza: Gaza's hospitals recorded six deaths due to starvation and malnutrition in the past 24 hours, all of them adults"),
    ("2025-08-04T09:20:00Z", "Informed sources to Al Mayadeen: A new chapter in relations between Iran and the International Atomic Energy Agency will begin within the framework of the new law passed by Parliament"),
]  # fmt: skip


def home_html() -> str:
    return HOME_FILE.read_text("utf-8")


def stored_items() -> list[str]:
    """The ``<li>`` markup of the stored ticker, newest first."""
    inner = _TICKER.search(home_html()).group(2)
    return re.findall(r"<li\b.*?</li>", inner, re.S)


def item(data_time: str | None, text: str, *, raw: bool = False) -> str:
    """One ticker item; ``data_time`` None leaves the attribute out, ``raw`` keeps markup in ``text``."""
    attr = "" if data_time is None else f' data-time="{html.escape(data_time)}"'
    return f'<li class="breaking-ticker__item"{attr}>{text if raw else html.escape(text)}</li>'


def with_ticker(items: list[str]) -> str:
    """The home page with these ``<li>`` items in its ticker."""
    page, count = _TICKER.subn(
        lambda m: m.group(1) + "".join("\n      " + i for i in items) + m.group(3), home_html(), count=1
    )
    assert count == 1
    return page


def without_ticker() -> str:
    page, count = _TICKER.subn("", home_html(), count=1)
    assert count == 1
    return page


#: The flash record's keys, in contract order.
RECORD_KEYS = ["text", "time", "time_estimated", "url", "first_seen", "last_seen", "article_url", "language"]


def flashes(sqlite) -> list[dict]:
    """The breaking_news rows, oldest first (none when the crawl made no store)."""
    if not sqlite.exists():
        return []
    con = sqlite3.connect(sqlite)
    con.row_factory = sqlite3.Row
    try:
        return [{k: r[k] for k in RECORD_KEYS} for r in con.execute("SELECT * FROM breaking_news ORDER BY id")]
    finally:
        con.close()
