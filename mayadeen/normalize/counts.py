"""Numbers the site writes in words: counts, share counts, reading times, durations."""

from __future__ import annotations

import re

from mayadeen.normalize.text import clean_text

_DIGITS = re.compile(r"\d{1,3}(?:,\d{3})+|\d{1,15}")
_COUNT = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*([kKmM](?![a-zA-Z]))?")
_MINUTES = re.compile(r"(\d{1,4})\s*(?:min\b|mins\b|minutes?\b)", re.I)
_SECONDS = re.compile(r"\d{1,9}(?:\.\d+)?")


def to_int(value) -> int | None:
    """A non-negative integer from an int or a string of digits (``"1,234"`` allowed)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if 0 <= value < 1e15 else None
    text = clean_text(value)
    if not text or not _DIGITS.fullmatch(text):
        return None
    return int(text.replace(",", ""))


def parse_count(value) -> int | None:
    """Share counts: ``"1 Shares"`` -> 1, ``"1,234 Shares"`` -> 1234, ``"1.2K"`` -> 1200."""
    direct = to_int(value)
    if direct is not None or not isinstance(value, str):
        return direct
    text = clean_text(value)
    if not text:
        return None
    m = _COUNT.search(text)
    if not m:
        return None
    number, suffix = m.group(1).replace(",", ""), m.group(2)
    if suffix:
        return int(float(number) * (1000 if suffix in "kK" else 1_000_000))
    return int(float(number)) if "." in number else int(number)


def parse_read_time(value) -> int | None:
    """Reading time in minutes from ``"4 Min Read"``/``"4 minutes"``, or a bare number."""
    direct = to_int(value)
    if direct is not None or not isinstance(value, str):
        return direct
    text = clean_text(value)
    m = _MINUTES.search(text or "")
    return int(m.group(1)) if m else None


_ISO_DURATION = re.compile(
    r"P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?",
    re.I,
)
_CLOCK_DURATION = re.compile(r"(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2})(?:\.\d+)?")


def parse_duration(value) -> int | None:
    """Seconds from ``"PT1M48S"`` (ISO 8601), ``"00:01:48"``/``"01:48"`` or a number of seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if 0 <= value < 1e9 else None
    text = clean_text(value)
    if not text:
        return None
    m = _ISO_DURATION.fullmatch(text)
    if m and any(m.groups()):
        w, d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        return int(round(w * 604800 + d * 86400 + h * 3600 + mi * 60 + s))
    m = _CLOCK_DURATION.fullmatch(text)
    if m:
        h, mi, s = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
        if mi < 60 and s < 60:
            return h * 3600 + mi * 60 + s
        return None
    if _SECONDS.fullmatch(text):
        return int(float(text))
    return None
