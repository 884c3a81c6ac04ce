"""Pure normalisers, one module per concern: each turns one raw layer value into its record form.

Every function takes whatever a page layer handed over (a string, a number, a dict from JSON, None,
or junk) and returns the normalised value or None ("this layer carried nothing usable"); none
raises. Import from the concern's module (``from mayadeen.normalize.dates import to_utc_iso``); the
names below are re-exported for callers that import them from the package.
"""

from mayadeen.normalize.codes import (
    KINDS,
    SECTION_GROUPS,
    title_from_key,
    to_kind,
    to_language,
    to_post_id,
    to_section_group,
)
from mayadeen.normalize.counts import parse_count, parse_duration, parse_read_time, to_int
from mayadeen.normalize.credits import clean_credit, split_credit
from mayadeen.normalize.dates import SITE_TZ, to_utc_iso
from mayadeen.normalize.hrefs import image_url, item_url, public_url
from mayadeen.normalize.lenient_json import parse_json_lenient
from mayadeen.normalize.links import RELATIONS, normalize_link, normalize_links
from mayadeen.normalize.media import normalize_image, normalize_images
from mayadeen.normalize.names import split_keywords, split_names
from mayadeen.normalize.text import (
    BLOCK_TAGS,
    INVISIBLE_TAGS,
    clean_text,
    collapse_whitespace,
    count_words,
    element_text,
    join_blocks,
    strip_label,
)

__all__ = [
    "BLOCK_TAGS",
    "INVISIBLE_TAGS",
    "KINDS",
    "RELATIONS",
    "SECTION_GROUPS",
    "SITE_TZ",
    "clean_credit",
    "clean_text",
    "collapse_whitespace",
    "count_words",
    "element_text",
    "image_url",
    "item_url",
    "join_blocks",
    "normalize_image",
    "normalize_images",
    "normalize_link",
    "normalize_links",
    "parse_count",
    "parse_duration",
    "parse_json_lenient",
    "parse_read_time",
    "public_url",
    "split_credit",
    "split_keywords",
    "split_names",
    "strip_label",
    "title_from_key",
    "to_int",
    "to_kind",
    "to_language",
    "to_post_id",
    "to_section_group",
    "to_utc_iso",
]
