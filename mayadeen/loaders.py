"""Item loader for ``ArticleItem``: wires the normalisers in ``mayadeen.normalize`` to the fields.

The page object hands every field its candidates from all layers in priority order (JSON-LD, meta,
tawsiyat, visible DOM, …) in ONE ``add_value`` call. The input processor normalises the candidates
in order and keeps the first that normalises (``FirstValid``); the output processor takes it. A
layer that is missing or broken simply yields None and the next layer's value wins, without any
``if`` in the page object, and later candidates are not even normalised once one has won.
Expensive fallbacks may be passed as zero-argument callables; they run only when needed.

List fields (``tags``, ``authors``, ``images``, ``related``) get whole lists as candidates: the first
layer with a non-empty list wins (lists are never merged across layers, which would duplicate or
reorder entries). ``video`` merges its two facts (URL and duration) key by key, since they often
live in different layers.
"""

from __future__ import annotations

from itemloaders.processors import TakeFirst
from scrapy.loader import ItemLoader

from mayadeen import normalize as n
from mayadeen.items import ArticleItem
from mayadeen.urls import PUBLIC_URL

# Added later by the pipeline, never by extraction.
PIPELINE_FIELDS = ("scraped_at", "content_hash")
LIST_FIELDS = ("authors", "tags", "images", "related")
# Defined on the body even when a page has none: ``word_count == len(body.split())`` must hold.
DEFAULTS = {"body": "", "word_count": 0}


def _processor(instance):
    """Give a processor instance a dotted ``__qualname__``.

    itemloaders' ``unbound_method`` reads ``proc.__qualname__`` on every processor lookup;
    instances have none, so each lookup would raise and swallow an AttributeError (a measurable
    share of loading an item). With a dotted name it returns the processor straight away.
    """
    instance.__qualname__ = f"{type(instance).__name__}.__call__"
    return instance


def _base(loader_context) -> str:
    """The page URL that relative hrefs resolve against (loader context ``base_url``)."""
    return (loader_context or {}).get("base_url") or PUBLIC_URL


class FirstValid:
    """Input processor: normalise the candidates in priority order, keep the first usable one.

    "Usable" means not None and not empty (an empty tag list from a broken layer must not win).
    A candidate may be a zero-argument callable: an expensive fallback (a menu lookup, a DOM walk)
    that is only evaluated when every earlier layer failed. ``url=True`` passes the page URL to
    normalisers that resolve hrefs.
    """

    def __init__(self, normaliser, url: bool = False):
        self.normaliser = normaliser
        self.url = url
        _processor(self)

    def __call__(self, values, loader_context=None):
        base = _base(loader_context) if self.url else None
        for value in values:
            if callable(value):
                value = value()
            if value is None:
                continue
            result = self.normaliser(value, base=base) if self.url else self.normaliser(value)
            if result is not None and result != "" and result != []:
                return [result]
        return []


class MergeFirst:
    """Input processor for small dict fields: per key, the first candidate value that normalises.

    The result is kept only when all ``required`` keys were found (a video without a URL is no
    video). Keys listed in ``url_keys`` are resolved against the page URL.
    """

    def __init__(self, required: tuple[str, ...] = (), url_keys: tuple[str, ...] = (), **normalisers):
        self.normalisers = normalisers
        self.required = required
        self.url_keys = url_keys
        _processor(self)

    def __call__(self, values, loader_context=None):
        merged = dict.fromkeys(self.normalisers)
        for value in values:
            if not isinstance(value, dict):
                continue
            for key, normaliser in self.normalisers.items():
                if merged[key] is None and value.get(key) is not None:
                    if key in self.url_keys:
                        merged[key] = normaliser(value[key], base=_base(loader_context))
                    else:
                        merged[key] = normaliser(value[key])
        if any(merged[key] is None for key in self.required):
            return []
        return [merged]


def _source(value):
    """Byline source: the text after ``Source:``."""
    return n.strip_label(value, "Source")


class ArticleLoader(ItemLoader):
    """Builds an ``ArticleItem`` from layer candidates; ``base_url`` (the page URL) goes in the context."""

    default_item_class = ArticleItem
    default_input_processor = FirstValid(n.clean_text)
    default_output_processor = _processor(TakeFirst())

    headline_in = FirstValid(n.clean_text)
    section_in = FirstValid(n.clean_text)
    section_group_in = FirstValid(n.to_section_group)
    summary_in = FirstValid(n.clean_text)
    url_in = FirstValid(n.item_url, url=True)
    article_id_in = FirstValid(n.to_post_id)
    kind_in = FirstValid(n.to_kind)
    source_in = FirstValid(_source)
    body_in = FirstValid(n.join_blocks)
    date_published_in = FirstValid(n.to_utc_iso)
    date_modified_in = FirstValid(n.to_utc_iso)
    read_time_minutes_in = FirstValid(n.parse_read_time)
    shares_in = FirstValid(n.parse_count)
    word_count_in = FirstValid(n.count_words)
    language_in = FirstValid(n.to_language)
    image_in = FirstValid(n.normalize_image, url=True)
    video_in = MergeFirst(required=("url",), url_keys=("url",), url=n.public_url,
                          duration_seconds=n.parse_duration)

    authors_in = FirstValid(n.split_names)
    tags_in = FirstValid(n.split_keywords)
    images_in = FirstValid(n.normalize_images, url=True)
    related_in = FirstValid(n.normalize_links, url=True)

    # Every field gets exactly one value (a scalar, a dict or a whole list), so TakeFirst fits all.
    # Declared per field: for a field without ``<field>_out`` itemloaders looks the processor up in
    # the field metadata through a new ItemAdapter on every call.
    url_out = article_id_out = kind_out = section_group_out = section_out = headline_out = \
        summary_out = body_out = authors_out = source_out = date_published_out = \
        date_modified_out = tags_out = read_time_minutes_out = shares_out = word_count_out = \
        image_out = images_out = video_out = related_out = language_out = default_output_processor

    def load_item(self):
        """The item with every extraction field present: lists default to ``[]``, body to ``""``,
        the rest to None."""
        item = super().load_item()
        for field in self.default_item_class.fields:
            if field in PIPELINE_FIELDS or field in item:
                continue
            item[field] = [] if field in LIST_FIELDS else DEFAULTS.get(field)
        return item
