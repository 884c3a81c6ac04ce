"""Pure normalisers: one small function per concern, each turning one raw value into its record form.

Every function takes whatever a page layer handed over (a string, a number, a dict from JSON, None,
or junk) and returns the normalised value or None. None means "this layer did not carry a usable
value", so the loader can fall through to the next layer; that is why no function here ever raises.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from lxml import etree

from mayadeen.urls import PUBLIC_URL, canonical_url, is_on_site

# Times written without an offset (visible dates, tawsiyat, listing cards) are Beirut wall-clock time.
SITE_TZ = ZoneInfo("Asia/Beirut")

_MAX_TEXT = 1_000_000  # longer values are junk, not text; refusing them keeps regexes cheap
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Markup that reached a text value (escaped in the page, or from JSON): script/style blocks go with
# their content, comments and tags without. Bounded repeats keep the scan linear on junk.
_MARKUP = re.compile(r"<(script|style|noscript|template)\b[^>]{0,1000}>.{0,20000}?</\1\s*>"
                     r"|<!--.{0,20000}?-->"
                     r"|</?[a-zA-Z][a-zA-Z0-9:-]{0,50}(?:\s[^<>]{0,2000})?/?>", re.S | re.I)


# --- text -----------------------------------------------------------------------------------------

def collapse_whitespace(value) -> str | None:
    """Runs of whitespace (incl. ``&nbsp;`` and other Unicode spaces) become one space; ends trimmed."""
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def clean_text(value) -> str | None:
    """Text as a reader sees it: entities decoded, no tags, no control characters, whitespace collapsed.

    Values from JSON and meta tags may still carry entities or stray markup; DOM text is already
    decoded, and decoding twice is harmless for real text.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        return None
    if "&" in value:
        value = html.unescape(value)
    if "<" in value:
        value = _MARKUP.sub(" ", value)
    value = " ".join(value.split())
    if not value.isprintable():  # fast C check; true for nearly all text once whitespace is collapsed
        value = " ".join(_CONTROL.sub("", value).split())
    return value or None


# Elements whose content a reader never sees as text.
INVISIBLE_TAGS = frozenset({
    "script", "style", "noscript", "template", "svg", "math", "head", "title", "meta", "link",
    "iframe", "object", "embed", "canvas", "video", "audio", "img", "picture", "source", "button",
    "select", "textarea", "input",
})
# Elements that separate words visually even without whitespace in the markup.
BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "aside", "header", "footer", "main", "nav", "h1", "h2", "h3",
    "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "blockquote", "figure", "figcaption",
    "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "pre", "hr", "address",
    "center", "details", "summary", "form", "fieldset", "br",
})


def element_text(element) -> str | None:
    """Visible text of an lxml element: no script/style/noscript/svg text, blocks and ``<br>`` spaced.

    Walks the subtree iteratively (``iterwalk``), so deeply nested junk cannot exhaust the stack.
    """
    if element is None or not isinstance(getattr(element, "tag", None), str):
        return None
    if not len(element):  # a leaf: its own text is all there is
        hidden = element.tag in INVISIBLE_TAGS or element.get("hidden") is not None
        return None if hidden else clean_text(element.text)
    parts: list[str] = []
    try:
        walker = etree.iterwalk(element, events=("start", "end", "comment", "pi"))
        for event, el in walker:
            if event in ("comment", "pi"):
                if el.tail:
                    parts.append(el.tail)
                continue
            tag = el.tag if isinstance(el.tag, str) else ""
            if event == "start":
                if tag in INVISIBLE_TAGS or el.get("hidden") is not None:
                    walker.skip_subtree()
                    continue
                if tag in BLOCK_TAGS:
                    parts.append(" ")
                if el.text:
                    parts.append(el.text)
            else:
                if tag in BLOCK_TAGS:
                    parts.append(" ")
                if el is not element and el.tail:
                    parts.append(el.tail)
    except Exception:  # a broken tree gives no text rather than an error
        return None
    return clean_text("".join(parts))


def strip_label(value, *labels: str) -> str | None:
    """``"Source: News websites"`` -> ``"News websites"``: drops a leading label (``Source:``, ``By``).

    The label must be followed by a colon or a space, so ``"Byron"`` keeps its ``By``.
    """
    text = clean_text(value)
    if not text:
        return None
    for label in labels:
        m = re.match(rf"{re.escape(label)}(?:\s*:\s*|\s+)", text, re.I)
        if m:
            return text[m.end():].strip() or None
    return text


def join_blocks(blocks) -> str | None:
    """Body blocks in order -> one text, blocks cleaned, empty ones dropped, joined by a blank line."""
    if isinstance(blocks, str):
        blocks = [blocks]
    if not isinstance(blocks, (list, tuple)):
        return None
    cleaned = [t for t in (clean_text(b) for b in blocks) if t]
    return "\n\n".join(cleaned) or None


def count_words(value) -> int | None:
    """``len(text.split())``: the record's word count is defined on the normalised body."""
    return len(value.split()) if isinstance(value, str) else None


def split_keywords(value) -> list[str]:
    """Keywords/tags from ``"a, b,c"`` or a JSON list -> clean names in order, duplicates dropped."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return []
    out: list[str] = []
    for item in items:
        name = clean_text(item)
        if name and name not in out:
            out.append(name)
    return out


_NAME_SEPARATORS = re.compile(r"\s*(?:,|;|&|\band\b)\s*", re.I)


def split_names(value) -> list[str]:
    """Author names from a list or a ``"A, B and C"`` string; ``{"name": …}`` objects (JSON-LD)
    accepted."""
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, str):
        value = _NAME_SEPARATORS.split(value)
    if not isinstance(value, (list, tuple)):
        return []
    out: list[str] = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("name")
        name = strip_label(item, "By")
        if name and name not in out:
            out.append(name)
    return out


# --- identifiers and codes ------------------------------------------------------------------------

def to_post_id(value) -> str | None:
    """CMS post id as a string of digits: ``1689403``, ``"1689403"`` or ``"article-1689403"``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    text = clean_text(value)
    if not text:
        return None
    m = re.fullmatch(r"[A-Za-z_-]*(\d{1,19})", text)
    return m.group(1) if m else None


KINDS = ("article", "video", "infograph", "gallery")
_KIND_ALIASES = {"video.other": "video", "video.movie": "video", "infographic": "infograph",
                 "newsarticle": "article", "photogallery": "gallery", "in-pictures": "gallery"}


def to_kind(value) -> str | None:
    """``article``/``video``/``infograph``/``gallery`` from a CMS type or an ``og:type``."""
    text = clean_text(value)
    if not text:
        return None
    text = text.lower()
    text = _KIND_ALIASES.get(text, text)
    return text if text in KINDS else None


def to_language(value) -> str | None:
    """Primary language subtag: ``"en"``, ``"en-US"`` and ``"en_US"`` all give ``"en"``."""
    text = clean_text(value)
    if not text:
        return None
    m = re.fullmatch(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*", text)
    return m.group(1).lower() if m else None


#: The site's section groups, as records name them (the schema's enum).
SECTION_GROUPS = ("News", "Articles", "Videos", "Infographs", "In Pictures")
_GROUP_BY_KEY = {re.sub(r"[^a-z]", "", g.lower()): g for g in SECTION_GROUPS}


def to_section_group(value) -> str | None:
    """One of SECTION_GROUPS, matched regardless of case and spacing (``in-pictures`` too); else None."""
    text = clean_text(value)
    return _GROUP_BY_KEY.get(re.sub(r"[^a-z]", "", text.lower())) if text else None


def title_from_key(value) -> str | None:
    """Last-resort display name from a URL key: ``in-pictures`` -> ``In Pictures``."""
    text = clean_text(value)
    if not text or not re.fullmatch(r"[a-z0-9-]+", text):
        return None
    return " ".join(w.capitalize() for w in text.split("-") if w) or None


# --- numbers --------------------------------------------------------------------------------------

def to_int(value) -> int | None:
    """A non-negative integer from an int or a string of digits (``"1,234"`` allowed)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if 0 <= value < 1e15 else None
    text = clean_text(value)
    if not text or not re.fullmatch(r"\d{1,3}(?:,\d{3})+|\d{1,15}", text):
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
    m = re.search(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*([kKmM](?![a-zA-Z]))?", text)
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
    m = re.search(r"(\d{1,4})\s*(?:min\b|mins\b|minutes?\b)", text or "", re.I)
    return int(m.group(1)) if m else None


_ISO_DURATION = re.compile(
    r"P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.I)
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
    if re.fullmatch(r"\d{1,9}(?:\.\d+)?", text):
        return int(float(text))
    return None


# --- dates ----------------------------------------------------------------------------------------

_MONTHS = {name: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
     ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
     ("oct", "october"), ("nov", "november"), ("dec", "december")], start=1) for name in names}
_TIME = r"(?:\s*,?\s*(?:at\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]\.?m\.?)?)?"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
                       r"(?:[+-]\d{2}(?::?\d{2})?)?")
_RFC822 = re.compile(r"[A-Za-z]{3},\s")
_RFC822_ZONE = re.compile(r"\d{2}:\d{2}(?::\d{2})?\s+(?:[+-]\d{4}|GMT|UTC)$")
_DMY = re.compile(r"\b(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})" + _TIME, re.I)
_MDY = re.compile(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})" + _TIME, re.I)


def _format_utc(dt: datetime) -> str | None:
    if not 1900 <= dt.year <= 2200:
        return None
    if dt.tzinfo is None or dt.utcoffset() is None:
        dt = dt.replace(tzinfo=SITE_TZ)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


# --- URLs -----------------------------------------------------------------------------------------

@lru_cache(maxsize=16384)
def _canonical(href: str, base: str) -> str | None:
    try:
        return canonical_url(href, base)
    except (ValueError, TypeError):  # e.g. "http://[::1" is rejected by urlsplit
        return None


def public_url(value, base: str = PUBLIC_URL) -> str | None:
    """An href made absolute against ``base`` and canonical (``mayadeen.urls.canonical_url``).

    Memoised: the same links (menus, read-next cards, related boxes) recur on every page. The
    cache key keeps only the part of ``base`` that can change the result.
    """
    text = clean_text(value)
    if not text or len(text) > 4096:
        return None
    base = base or PUBLIC_URL
    if text.startswith(("https://", "http://")):
        base = PUBLIC_URL
    elif text.startswith("/") and not text.startswith("//"):
        base = "/".join(base.split("/", 3)[:3]) + "/"  # a root-relative href only needs the origin
    return _canonical(text, base)


def item_url(value, base: str = PUBLIC_URL) -> str | None:
    """The record URL: canonical, on the public site, and without any query (items have none)."""
    url = public_url(value, base)
    if not url or not is_on_site(url):
        return None
    return url.split("?", 1)[0]


_SRCSET_DESCRIPTOR = re.compile(r"\s\d+(?:\.\d+)?[wx](?:\s*,|\s*$)")


def image_url(value, base: str = PUBLIC_URL) -> str | None:
    """An image source made absolute; a ``srcset`` gives its first URL; lazy-loading placeholders
    (data: URIs, the site's placeholder files) are refused so the real ``data-src`` can win."""
    text = clean_text(value)
    if not text:
        return None
    if _SRCSET_DESCRIPTOR.search(text):
        text = text.split()[0]
    if "/placeholder" in text.lower().split("?", 1)[0]:
        return None
    return public_url(text, base)


# --- media ----------------------------------------------------------------------------------------

_TRAILING_CREDIT = re.compile(r"\s*\(([^()]{1,80})\)\s*$")


def clean_credit(value) -> str | None:
    """``"(AP)"`` -> ``"AP"``."""
    text = clean_text(value)
    if not text:
        return None
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return collapse_whitespace(text)


def split_credit(caption, credit=None) -> tuple[str | None, str | None]:
    """Caption text and its trailing ``(AP)``-style credit, separated: ``("… Palace.", "AP")``.

    An explicit credit (gallery span, JSON-LD ``creditText``) wins; a trailing parenthesis that
    repeats it is still cut from the caption.
    """
    cap, cred = clean_text(caption), clean_credit(credit)
    if cap:
        m = _TRAILING_CREDIT.search(cap)
        if m and (cred is None or clean_credit(m.group(1)) == cred):
            cred = cred or clean_credit(m.group(1))
            cap = cap[:m.start()].strip() or None
    return cap, cred


def normalize_image(value, base: str = PUBLIC_URL) -> dict | None:
    """``{url, caption, credit}`` from a candidate dict (or a bare URL); None without a usable URL.

    ``url`` may be a list of sources in preference order (lazy ``data-src``, ``src``, ``<noscript>``
    fallback): the first that is a real image URL wins.
    """
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, dict):
        return None
    sources = value.get("url")
    sources = sources if isinstance(sources, (list, tuple)) else [sources]
    url = next((u for u in (image_url(s, base) for s in sources) if u), None)
    if not url:
        return None
    caption, credit = split_credit(value.get("caption"), value.get("credit"))
    return {"url": url, "caption": caption, "credit": credit}


def normalize_images(value, base: str = PUBLIC_URL) -> list[dict]:
    """A list of image candidates -> the usable ones, normalised, in order."""
    if not isinstance(value, (list, tuple)):
        return []
    return [img for img in (normalize_image(v, base) for v in value) if img]


RELATIONS = ("read_more", "related_news", "read_next")


def normalize_link(value, base: str = PUBLIC_URL) -> dict | None:
    """``{url, title, relation}``: href made absolute (not redirect-resolved), title as shown."""
    if not isinstance(value, dict) or value.get("relation") not in RELATIONS:
        return None
    url = public_url(value.get("url"), base)
    if not url:
        return None
    return {"url": url, "title": clean_text(value.get("title")) or "", "relation": value["relation"]}


def normalize_links(value, base: str = PUBLIC_URL) -> list[dict]:
    if not isinstance(value, (list, tuple)):
        return []
    return [link for link in (normalize_link(v, base) for v in value) if link]


# --- embedded JSON --------------------------------------------------------------------------------

_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_JSON_LINE = re.compile(r'^(\s*[{\[]?\s*"[^"\\]{1,200}"\s*:\s*")(.*)("\s*,?\s*)$')
_UNESCAPED_QUOTE = re.compile(r'(?<!\\)"')


def _escape_inner_quotes(text: str) -> str:
    """Pretty-printed JSON with a raw ``"`` inside a string value: escape it, line by line."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = _JSON_LINE.match(line)
        if m and _UNESCAPED_QUOTE.search(m.group(2)):
            lines[i] = m.group(1) + _UNESCAPED_QUOTE.sub(r'\\"', m.group(2)) + m.group(3)
    return "\n".join(lines)


def parse_json_lenient(text) -> object | None:
    """JSON from a ``<script>``: strict first, then common CMS breakage repaired, else None.

    Repairs: HTML comment/CDATA wrappers, control characters, trailing commas, and unescaped
    quotes inside one-line string values. Deep nesting and other junk give None, never an error.
    """
    if not isinstance(text, str) or len(text) > 5_000_000:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        repaired = re.sub(r"^\s*(?:<!--|//\s*<!\[CDATA\[)|(?:-->|//\s*\]\]>)\s*$", "", text)
        repaired = _TRAILING_COMMA.sub(r"\1", repaired.rstrip(";"))
        for attempt in (repaired, _escape_inner_quotes(repaired)):
            try:
                return json.loads(attempt, strict=False)
            except ValueError:
                continue
    except (RecursionError, MemoryError):
        return None
    return None
