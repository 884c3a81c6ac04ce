"""The article record: one item per item page (article, video, infograph, gallery).

This is the contract with downstream datasets. ``mayadeen/schema/article.schema.json`` publishes the same
contract as JSON Schema; a test keeps the two in step.
"""

import scrapy


class ArticleItem(scrapy.Item):
    url = scrapy.Field()
    """Canonical public URL on ``https://english.almayadeen.net``: no query, fragment or trailing slash."""

    article_id = scrapy.Field()
    """The CMS post id as a string of digits, e.g. ``"1689403"``."""

    kind = scrapy.Field()
    """``article``, ``video``, ``infograph`` or ``gallery``."""

    section_group = scrapy.Field()
    """``News``, ``Articles``, ``Videos``, ``Infographs`` or ``In Pictures``."""

    section = scrapy.Field()
    """Section display name, e.g. ``Politics``, ``Opinion``, ``NewsFeed``, ``Video Features``."""

    headline = scrapy.Field()
    """The title as shown, whitespace collapsed."""

    summary = scrapy.Field()
    """The standfirst text, or null when the page has none (video pages)."""

    body = scrapy.Field()
    """Article text: paragraphs, sub-headings, quotes, list items and tweet texts, joined by a blank line."""

    authors = scrapy.Field()
    """Byline names in order; ``["Al Mayadeen English"]`` for staff bylines."""

    source = scrapy.Field()
    """Text after "Source: " in the byline, or null (named writers, videos)."""

    date_published = scrapy.Field()
    """Publication time, UTC, ``YYYY-MM-DDThh:mm:ssZ``."""

    date_modified = scrapy.Field()
    """Last modification time, same form; equals date_published when never edited; null when the page
    carries no modification time at all."""

    tags = scrapy.Field()
    """Tag names in page order (possibly empty)."""

    read_time_minutes = scrapy.Field()
    """Integer from "N Min Read" (articles), else null."""

    shares = scrapy.Field()
    """Integer from "N Shares", or null when the page shows no count."""

    word_count = scrapy.Field()
    """``len(body.split())``."""

    image = scrapy.Field()
    """Main image ``{url, caption, credit}`` (the poster on videos, caption and credit null there),
    or null when the item has no main image."""

    images = scrapy.Field()
    """Main image first, then body or gallery images in page order, each ``{url, caption, credit}``."""

    video = scrapy.Field()
    """``{url, duration_seconds}`` for videos (MP4 source or embed URL), null otherwise."""

    related = scrapy.Field()
    """Links ``{url, title, relation}`` in page order; relation is ``read_more`` (inline "Read more:" /
    "Read next:" lines), ``related_news`` (the Related News box) or ``read_next`` (the Read Next block).
    URLs are absolute and public, not redirect-resolved."""

    language = scrapy.Field()
    """Language code of the item, ``"en"``."""

    scraped_at = scrapy.Field()
    """When this crawl fetched the page, UTC ``YYYY-MM-DDThh:mm:ssZ``; added by the pipeline."""

    content_hash = scrapy.Field()
    """sha256 hex over headline, summary, body, authors, tags, images and video; added by the pipeline.
    Changes only when the article's content does (not with shares or scraped_at)."""
