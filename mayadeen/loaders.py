"""The item loader: per field, an input processor that normalises each value a page layer hands
over, and an output processor that picks (the first usable value) or combines (lists, the video).

The page object adds a field's layers in priority order with ``add_first``, which stops at the
first layer that gives the field a value: a missing or broken layer falls through to the next, and
list fields take one layer's list, never a merge of several. Layers after the first are given as
callables where reading them costs, so a page whose first layer answers never reads the rest.
"""

from __future__ import annotations

from functools import cache

from itemloaders.processors import Identity, Join, TakeFirst
from itemloaders.utils import arg_to_iter, get_func_args
from scrapy.loader import ItemLoader

from mayadeen.items import ArticleItem
from mayadeen.normalize.codes import to_kind, to_language, to_post_id, to_section_group, to_section_name
from mayadeen.normalize.counts import parse_count, parse_duration, parse_read_time
from mayadeen.normalize.dates import date_precision, to_utc_iso
from mayadeen.normalize.hrefs import item_url, public_url
from mayadeen.normalize.links import normalize_link
from mayadeen.normalize.media import normalize_image
from mayadeen.normalize.names import author_name, tag_name
from mayadeen.normalize.text import clean_text, count_clean_words, drop_duplicates, strip_label
from mayadeen.record import EXTRACTED_KEYS, LIST_KEYS
from mayadeen.urls import DEFAULT_TRACKING_PARAMS, PUBLIC_URL, item_kind

# Defined on the body even when a page has none: ``word_count == len(body.split())`` must hold.
DEFAULTS = {"body": "", "word_count": 0}


class Each:
    """Input processor: each value a layer hands over through ``normalise``; refused values (None)
    dropped. ``MapCompose(normalise)`` for one function, without its set-up on every call (a context
    chain, every function wrapped anew): the loader calls an input processor for each value added.
    """

    def __init__(self, normalise):
        self.normalise = normalise

    def __call__(self, values):
        return [v for v in map(self.normalise, values) if v is not None]


class EachAgainstPage(Each):
    """``Each`` for a ``normalise(value, page_url, tracking)`` that resolves hrefs against the page URL
    and drops the tracking parameters (the loader context's ``base_url`` and ``tracking``)."""

    def __call__(self, values, loader_context):
        base, tracking = page_of(loader_context)
        return [v for v in (self.normalise(value, base, tracking) for value in values) if v is not None]


def page_of(loader_context) -> tuple[str, tuple[str, ...]]:
    """The page URL and the tracking parameters in a loader context (the site's and the defaults)."""
    return loader_context.get("base_url") or PUBLIC_URL, loader_context.get("tracking") or DEFAULT_TRACKING_PARAMS


def _source(value) -> str | None:
    """Byline source: the text after ``Source:``."""
    return strip_label(value, "Source")


def _video_facts(value, base: str, tracking: tuple[str, ...]) -> dict | None:
    """A ``{url, duration_seconds}`` candidate with both facts normalised (either may be None)."""
    if not isinstance(value, dict):
        return None
    return {
        "url": public_url(value.get("url"), base, tracking),
        "duration_seconds": parse_duration(value.get("duration_seconds")),
    }


def _first_of_each_fact(candidates) -> dict | None:
    """The video: per fact the first candidate that has it (URL and duration often live in
    different layers); None without a URL."""
    url = next((c["url"] for c in candidates if c["url"]), None)
    duration = next((c["duration_seconds"] for c in candidates if c["duration_seconds"] is not None), None)
    return {"url": url, "duration_seconds": duration} if url else None


class ArticleLoader(ItemLoader):
    """Builds an ``ArticleItem``; ``base_url`` (the page URL) and ``tracking`` (the query parameters
    to drop, ``MAYADEEN_TRACKING_PARAMS``) go in the loader context."""

    default_item_class = ArticleItem

    # Scalars: each value normalised, the first usable one is the field.
    url_out = article_id_out = kind_out = section_group_out = section_out = headline_out = summary_out = source_out = (
        date_published_out
    ) = date_modified_out = read_time_minutes_out = shares_out = image_out = language_out = TakeFirst()
    url_in = EachAgainstPage(item_url)
    article_id_in = Each(to_post_id)
    kind_in = Each(to_kind)
    section_group_in = Each(to_section_group)
    section_in = Each(to_section_name)
    headline_in = summary_in = Each(clean_text)
    source_in = Each(_source)
    date_published_in = date_modified_in = Each(to_utc_iso)
    read_time_minutes_in = Each(parse_read_time)
    shares_in = Each(parse_count)
    image_in = EachAgainstPage(normalize_image)
    language_in = Each(to_language)
    # The body: its blocks, cleaned, joined by a blank line.
    body_in, body_out = Each(clean_text), Join("\n\n")
    # Its word count, ``len(body.split())``, from the cleaned blocks: counted, not split again.
    word_count_in, word_count_out = Each(count_clean_words), sum
    # Lists: one layer's values, normalised, each once.
    authors_in, authors_out = Each(author_name), drop_duplicates
    tags_in, tags_out = Each(tag_name), drop_duplicates
    images_in, images_out = EachAgainstPage(normalize_image), Identity()
    related_in, related_out = EachAgainstPage(normalize_link), Identity()
    # The video: its two facts from the first candidates that have them.
    video_in, video_out = EachAgainstPage(_video_facts), _first_of_each_fact

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._collected: dict[str, list] = {}
        self._inputs, self._outputs = _processors(type(self))

    def add_value(self, field_name, value, *processors, re=None, **kw):
        """``ItemLoader.add_value``: the value through ``processors``, then the field's input processor,
        collected; without itemloaders' per-value set-up (each field's processors are looked up once per
        loader class, the loader context bound only for those that take it)."""
        if processors or re:
            value = self.get_value(value, *processors, re=re, **kw)
        if value is None:
            return self
        if not field_name:
            for name, inner in value.items():
                self.add_value(name, inner)
            return self
        normalise, takes_context = self._inputs[field_name]
        kind = type(value)  # a list or a string, the common cases, without arg_to_iter's class checks
        values = value if kind is list else [value] if kind is str else arg_to_iter(value)
        normalised = normalise(values, loader_context=self.context) if takes_context else normalise(values)
        if normalised:
            collected = self._collected
            if type(normalised) is not list:
                normalised = arg_to_iter(normalised)
            if field_name in collected:
                collected[field_name].extend(normalised)
            else:
                collected[field_name] = list(normalised)
        return self

    def replace_value(self, field_name, value, *processors, re=None, **kw):
        for name in value if not field_name and isinstance(value, dict) else [field_name]:
            self._collected.pop(name, None)
        return self.add_value(field_name, value, *processors, re=re, **kw)

    def get_collected_values(self, field_name: str) -> list:
        return self._collected.get(field_name, [])

    def get_output_value(self, field_name: str):
        return self._output(field_name, self._collected.get(field_name, []))

    def _output(self, field_name: str, values: list):
        pick, takes_context = self._outputs[field_name]
        return pick(values, loader_context=self.context) if takes_context else pick(values)

    def add_first(self, field_name: str, *layer_values) -> bool:
        """Add the layers' values in priority order until the field has a value; whether it has one.
        A callable is a layer read (called) only when the layers before it gave nothing."""
        collected = self._collected  # a field is in it only with values (normalised: never None or empty)
        for value in layer_values:
            if callable(value):
                value = value()
            if value is not None:
                self.add_value(field_name, value)
                if field_name in collected:
                    return True
        return field_name in collected

    def add_first_item_url(self, *layer_values) -> None:
        """``url``: the first layer's URL that is an item page's; else the first on the site (a page of a
        shape the site did not use before). A canonical link to the home page, an AMP or another
        language's page is not the item's URL. A callable is read only when the layers before it gave
        no item URL."""
        base, tracking = page_of(self.context)
        others = []
        for value in layer_values:
            if callable(value):
                value = value()
            url = item_url(value, base, tracking) if isinstance(value, str) else None
            if url and item_kind(url):
                self.add_value("url", url)
                return
            others.append(value)
        self.add_first("url", *others)

    def add_first_exact_date(self, field_name: str, *layer_values) -> None:
        """The first date, layer by layer, that has its time and offset; else the first with its time
        (Beirut time); else a day alone (midnight in Beirut): a naive or day-only value is a layer's
        guess, another layer may know better. A layer may give several (a ``<time>``'s ``datetime``,
        its text), best first; a callable is read only when the layers before it did not answer."""
        guesses: dict[int, list] = {1: [], 0: []}
        for value in layer_values:
            if callable(value):
                value = value()
            exact = []
            for v in value if isinstance(value, list) else [value]:
                if v is not None:
                    precision = date_precision(v)
                    (exact if precision == 2 else guesses[precision]).append(v)
            if self.add_first(field_name, exact):
                return
        self.add_first(field_name, guesses[1]) or self.add_first(field_name, guesses[0])

    def load_item(self):
        """The item with every extracted field present: lists default to ``[]``, ``body`` to ``""``,
        ``word_count`` to 0, the rest to None. Collected fields first, in the order they were added."""
        item = self.item
        for key, values in self._collected.items():
            value = self._output(key, values)
            if value is not None:
                item[key] = value
        loaded = item.keys()  # a view: membership without the item's KeyError per missing key
        for key in EXTRACTED_KEYS:
            if key not in loaded:
                item[key] = [] if key in LIST_KEYS else DEFAULTS.get(key)
        return item


@cache
def _processors(loader_class) -> tuple[dict, dict]:
    """Input and output processors by field of the loader's item, each with whether it takes the loader
    context, looked up once: a class's processors never change, and the loader needs one per value."""
    loader = loader_class.__new__(loader_class)
    ItemLoader.__init__(loader)  # without the subclass's __init__, which asks for these processors
    inputs, outputs = {}, {}
    for name in loader_class.default_item_class.fields:
        for found, processor in (
            (inputs, loader.get_input_processor(name)),
            (outputs, loader.get_output_processor(name)),
        ):
            found[name] = (processor, "loader_context" in get_func_args(processor))
    return inputs, outputs
