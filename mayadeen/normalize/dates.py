"""Dates the site writes (ISO, tawsiyat, visible, RFC 822) -> UTC ``YYYY-MM-DDThh:mm:ssZ``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from mayadeen.normalize.text import clean_text

# Times written without an offset (visible dates, tawsiyat, listing cards) are Beirut wall-clock time.
SITE_TZ = ZoneInfo("Asia/Beirut")


_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_TIME = r"(?:\s*,?\s*(?:at\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]\.?m\.?)?)?"
_ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"(?:[+-]\d{2}(?::?\d{2})?)?"
)
_RFC822 = re.compile(r"[A-Za-z]{3},\s")
_RFC822_ZONE = re.compile(r"\d{2}:\d{2}(?::\d{2})?\s+(?:[+-]\d{4}|GMT|UTC)$")
_DMY = re.compile(r"\b(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})" + _TIME, re.I)
_MDY = re.compile(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})" + _TIME, re.I)


_TIME_OF_DAY = re.compile(r"\d:\d\d")
_ZONE = re.compile(r"(?:[zZ]|[+-]\d\d:?\d\d|\bGMT|\bUTC)$")


def date_precision(value) -> int:
    """How exactly a date value names its moment: 2 with its time and its offset (``…T21:45:00+03:00``,
    ``…Z``, RFC 822), 1 with its time only (read as Beirut time), 0 a day alone (read as midnight in
    Beirut). A layer that says more is the better one: a naive or day-only value is a guess."""
    if isinstance(value, str):
        if _TIME_OF_DAY.search(value) is None:
            return 0
        return 2 if _ZONE.search(value.rstrip()) else 1
    if isinstance(value, datetime):
        return 2 if value.utcoffset() is not None else 1
    return 0 if isinstance(value, date) else 2  # anything else: the normaliser says whether it is a date


def _format_utc(dt: datetime) -> str | None:
    if not 1900 <= dt.year <= 2200:
        return None
    if dt.tzinfo is None or dt.utcoffset() is None:
        dt = dt.replace(tzinfo=SITE_TZ)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _visible_date(text: str) -> datetime | None:
    """``18 Aug 2023 21:45``, ``18 August 2023``, ``Aug 18, 2023 9:45 pm`` -> naive datetime."""
    for pattern, order in ((_DMY, "dmy"), (_MDY, "mdy")):
        m = pattern.search(text)
        if not m:
            continue
        a, b, year, hh, mm, ss, ampm = m.groups()
        day, month_name = (a, b) if order == "dmy" else (b, a)
        month = _MONTHS.get(month_name.lower())
        if not month:
            continue
        hour, minute, second = int(hh or 0), int(mm or 0), int(ss or 0)
        if ampm:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if ampm.lower().startswith("p") else 0)
        try:
            return datetime(int(year), month, int(day), hour, minute, second)
        except ValueError:
            continue
    return None


def to_utc_iso(value) -> str | None:
    """Any date the site writes -> UTC ``YYYY-MM-DDThh:mm:ssZ``.

    Values with an offset or ``Z`` are converted; values without one are Beirut local time
    (``Asia/Beirut``, DST included): tawsiyat ``2023-08-18 21:45:00``, visible ``18 Aug 2023 21:45``,
    date-only ``18 Aug 2023`` (midnight). RFC 822 dates (feeds) are accepted too.
    """
    try:
        if isinstance(value, datetime):
            return _format_utc(value)
        if isinstance(value, date):
            return _format_utc(datetime(value.year, value.month, value.day))
    except (OverflowError, ValueError, TypeError):
        return None
    text = clean_text(value)
    if not text or len(text) > 200:
        return None
    return _text_to_utc_iso(text)


@lru_cache(maxsize=4096)  # pure, and the same stamps recur (published = modified, sitemap = page)
def _text_to_utc_iso(text: str) -> str | None:
    try:
        iso = text[:-1] + "+00:00" if text[-1:] in "zZ" else text
        if _ISO_DATE.fullmatch(iso):
            try:
                return _format_utc(datetime.fromisoformat(iso.replace(",", ".")))
            except ValueError:
                return None
        if _RFC822.match(text) or _RFC822_ZONE.search(text):
            try:
                return _format_utc(parsedate_to_datetime(text))
            except (TypeError, ValueError, IndexError):
                pass
        dt = _visible_date(text)
        return _format_utc(dt) if dt else None
    except (OverflowError, ValueError, TypeError):
        return None
