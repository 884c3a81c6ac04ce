"""The site parser for item pages (article, video, infograph, gallery) of Al Mayadeen English.

``ArticlePage(response, tracking)`` reads one ``TextResponse`` whose ``url`` is the public URL and
offers ``is_item()``, ``to_item()`` and ``links()``; no requests, no crawl state. Every URL it gives
(the record's, its links', images' and video's) is canonical, without the ``tracking`` query
parameters. Every fact is on the page several times (JSON-LD, meta tags, the CMS's tawsiyat script,
the visible page): each layer is read once by a reader of ``mayadeen.extract``, and each ``_add_*``
method says which layers a field is read from, best first. The loader normalises; the first layer
that gives a value wins.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from lxml import etree

from mayadeen.extract.body import Body, BodyRules, read_body
from mayadeen.extract.breadcrumbs import breadcrumb_names
from mayadeen.extract.cards import card_links
from mayadeen.extract.dom import elements_by_class, has_class, parse_response, time_values
from mayadeen.extract.jsonld import find_article, find_video, first, image_candidates, read_jsonld
from mayadeen.extract.media import figure_image, player_poster, player_video, with_image_facts
from mayadeen.extract.meta import read_page_tags
from mayadeen.extract.tawsiyat import read_tawsiyat, tawsiyat_classes
from mayadeen.items import ArticleItem
from mayadeen.loaders import ArticleLoader
from mayadeen.normalize.codes import title_from_key, to_kind, to_post_id
from mayadeen.normalize.hrefs import public_url
from mayadeen.normalize.links import normalize_links
from mayadeen.normalize.names import split_keywords, split_names
from mayadeen.normalize.text import element_text
from mayadeen.pages.layer import layer
from mayadeen.urls import DEFAULT_TRACKING_PARAMS, PUBLIC_URL, item_kind

logger = logging.getLogger(__name__)


class ArticlePage:
    """One item page of the current layout. Build it from a ``TextResponse``; safe on any input."""

    # Whole-page lookups go by tag in one walk (with the meta tags and the canonical link); the item's own
    # elements are indexed by class.
    PAGE_TAGS = ("script", "article", "section")
    ITEM_CLASS, CONTENT_ID, CONTENT_CLASS = "article-details", "article-content", "article-content"
    CONTENT_BY_ID = etree.XPath("descendant::*[@id='article-content'][1]")
    READ_NEXT_ID = READ_NEXT_CLASS = "read-next"
    READ_NEXT_ANY = etree.XPath(
        "descendant::*[@id='read-next' or contains(concat(' ', normalize-space(@class), ' '), ' read-next ')][1]"
    )
    MENU_LINK = etree.XPath("descendant::header//a[@href=$absolute or @href=$relative]")
    TITLE, BRIEF, READ_TIME, SOURCE = "article-title", "article-brief", "read-time", "article-info__source"
    AUTHOR, AUTHOR_NAME = "article-info__author", "author-name"
    PUBLISHED, UPDATED, SHARES = "article-info__date", "article-info__updated", "article-info__shares"
    MAIN_IMAGE = ("main-image", "infograph-media__figure", "article-main-media", "infograph-media")
    VIDEO_PLAYER, VIDEO_DURATION = "video-player", "video-duration"
    OG_VIDEO = ("og:video:secure_url", "og:video", "og:video:url")
    GALLERY_SLIDE, TAG_LINK, TAG_BOX = "gallery-slider__item", "tags-list__link", "article-tags"
    CARD, CARD_TITLE, SECTION_HEAD = "card", "card__title", "section-head"
    BODY_RULES = BodyRules(
        related_box_class="related-news-box",
        related_title_class="related-news-box__text",
        tweet_class="twitter-tweet",
        skip_classes=frozenset({"ad-slot", "share-box", "gallery-slider", "author-box", "article-tags"}),
    )

    def __init__(self, response, tracking: tuple[str, ...] = DEFAULT_TRACKING_PARAMS):
        self.response = response
        self.url = getattr(response, "url", None) or PUBLIC_URL
        self.tracking = tuple(tracking)

    def is_item(self) -> bool:
        """True for an article/video/infograph/gallery page, judged by its structure and metadata."""
        try:
            if self.item_element is not None or self.ld_article:
                return True
            return bool(to_post_id(self.tawsiyat.get("postid")) and to_kind(self.tawsiyat.get("type")))
        except Exception:  # never let a broken page stop the crawl
            logger.exception("is_item failed on %s", self.url)
            return False

    def to_item(self) -> ArticleItem | None:
        """The record (without the pipeline's keys), or None when this is no item page."""
        if not self.is_item():
            return None
        try:
            loader = ArticleLoader(base_url=self.url, tracking=self.tracking)
            for add in (
                self._add_identity,
                self._add_sections,
                self._add_text,
                self._add_byline,
                self._add_tags_and_counts,
                self._add_media,
            ):
                add(loader)
            loader.add_value("related", self.related_links)
            return loader.load_item()
        except Exception:
            logger.exception("extraction failed on %s", self.url)
            return None

    def links(self) -> list[str]:
        """Canonical URLs of the related links (read more, related news, read next), deduplicated."""
        try:
            links = normalize_links(self.related_links, self.url, self.tracking)
            return list(dict.fromkeys(link["url"] for link in links))
        except Exception:
            logger.exception("links failed on %s", self.url)
            return []

    # --- fields, each from its layers in priority order -----------------------------------------------

    def _add_identity(self, loader: ArticleLoader) -> None:
        ld, meta, item = self.ld_article, self.meta, self.item_container
        entity = ld.get("mainEntityOfPage")
        loader.add_first_item_url(
            self.page_tags.canonical,
            meta.first("og:url"),
            ld.get("url"),
            entity.get("@id") if isinstance(entity, dict) else entity,
            lambda: self.tawsiyat.get("url"),
            self.url,
        )
        attribute = item.get if item is not None else dict().get
        loader.add_first(
            "article_id",
            meta.first("postid"),
            lambda: self.tawsiyat.get("postid"),
            attribute("data-postid"),
            ld.get("identifier"),
            attribute("id"),
        )
        loader.add_first(
            "kind",
            item_kind(loader.get_output_value("url") or self.url),
            lambda: self.tawsiyat.get("type"),
            attribute("data-type"),
            meta.first("og:type"),
        )
        lang = self.root.get("lang") if self.root is not None else None
        loader.add_first(
            "language",
            lang,
            ld.get("inLanguage"),
            lambda: self.tawsiyat.get("lang"),
            meta.first("og:locale"),
            meta.first("language"),
        )

    def _add_sections(self, loader: ArticleLoader) -> None:
        """Metadata, the breadcrumb; only when all fail, the menu's label, a title from the URL."""
        url = loader.get_output_value("url") or self.url
        crumbs = breadcrumb_names(self.jsonld, self.url, url)
        path = urlsplit(url).path.strip("/").split("/") if item_kind(url) else []
        if not loader.add_first(
            "section",
            self.meta.first("article:section"),
            first(self.ld_article.get("articleSection")),
            lambda: first(tawsiyat_classes(self.tawsiyat, "category")),
            crumbs[-1] if crumbs else None,
        ):
            loader.add_first("section", self.menu_label(path[:-1]), title_from_key(path[-2] if len(path) > 1 else None))
        if not loader.add_first(
            "section_group", crumbs[0] if crumbs else None, lambda: first(tawsiyat_classes(self.tawsiyat, "section"))
        ):
            loader.add_first("section_group", self.menu_label(path[:1]), title_from_key(path[0] if path else None))

    def _add_text(self, loader: ArticleLoader) -> None:
        ld, meta, by_class = self.ld_article, self.meta, self.by_class
        loader.add_first(
            "headline",
            by_class.text(self.TITLE),
            meta.first("og:title"),
            ld.get("headline"),
            lambda: self.tawsiyat.get("title"),
            meta.first("twitter:title"),
        )
        loader.add_value("summary", by_class.text(self.BRIEF))
        loader.add_value("body", self.body.blocks)
        loader.add_value("word_count", loader.get_collected_values("body"))
        loader.add_value("read_time_minutes", by_class.text(self.READ_TIME))

    def _add_byline(self, loader: ArticleLoader) -> None:
        ld, meta, by_class = self.ld_article, self.meta, self.by_class
        names = [element_text(el) for el in by_class.inside_first(self.AUTHOR, self.AUTHOR_NAME)]
        if not loader.add_first("authors", names, lambda: split_names(by_class.text(self.AUTHOR))):
            tw = self.tawsiyat
            loader.add_first(
                "authors",
                split_names(ld.get("author")),
                tawsiyat_classes(tw, "writer"),
                split_names(meta.first("author")),
                split_names(tw.get("author")),
            )
        loader.add_value("source", by_class.text(self.SOURCE))
        loader.add_first_exact_date(
            "date_published",
            ld.get("datePublished"),
            meta.first("article:published_time"),
            lambda: self.tawsiyat.get("published_time"),
            lambda: time_values(by_class.first(self.PUBLISHED)),
            lambda: self.ld_video.get("uploadDate"),
        )
        loader.add_first_exact_date(
            "date_modified",
            ld.get("dateModified"),
            meta.first("article:modified_time"),
            lambda: self.tawsiyat.get("last_updated"),
            lambda: time_values(by_class.first(self.UPDATED)),
        )

    def _add_tags_and_counts(self, loader: ArticleLoader) -> None:
        meta, by_class = self.meta, self.by_class
        tag_box = by_class.first(self.TAG_BOX)
        tag_links = by_class.get(self.TAG_LINK) or (list(tag_box.iter("a")) if tag_box is not None else [])
        if not loader.add_first("tags", [element_text(a) for a in tag_links], meta.get("article:tag")):
            tw = self.tawsiyat
            loader.add_first(
                "tags",
                split_keywords(self.ld_article.get("keywords")),
                tawsiyat_classes(tw, "tag"),
                split_keywords(meta.first("keywords")),
                split_keywords(tw.get("keywords")),
            )
        counts = [el.get("data-count") for el in by_class.inside_first(self.SHARES, None)]
        loader.add_first("shares", [count for count in counts if count], lambda: by_class.text(self.SHARES))

    def _add_media(self, loader: ArticleLoader) -> None:
        """Main image from the page (figure or video poster), else JSON-LD, og:image, tawsiyat; then
        ``images`` = the main image and the body's or gallery's images in page order; the video."""
        ld_images = self.ld_images
        loader.add_first(
            "image",
            self.main_image,
            *ld_images[:1],
            self.meta.first("og:image"),
            lambda: self.tawsiyat.get("thumbnail"),
        )
        lead = [main] if (main := loader.get_output_value("image")) else []
        rest = self.body.figures + [figure_image(el) for el in self.by_class.get(self.GALLERY_SLIDE, [])]
        rest = [with_image_facts(figure, ld_images, self.url, self.tracking) for figure in rest]
        loader.add_first("images", lead + rest if rest else None, ld_images if len(ld_images) > 1 else None, lead)
        if loader.get_output_value("kind") == "video":  # all layers: URL and duration may live apart
            ld, meta, by_class = self.ld_video, self.meta, self.by_class
            player, span = by_class.first(self.VIDEO_PLAYER), by_class.first(self.VIDEO_DURATION)
            loader.add_value("video", player_video(player) if player is not None else None)
            loader.add_value(
                "video",
                {"duration_seconds": span.get("data-duration") or element_text(span)} if span is not None else None,
            )
            loader.add_value(
                "video", {"url": ld.get("contentUrl") or ld.get("embedUrl"), "duration_seconds": ld.get("duration")}
            )
            og_video = next(filter(None, map(meta.first, self.OG_VIDEO)), None)
            loader.add_value("video", {"url": og_video, "duration_seconds": meta.first("video:duration")})
            loader.add_value("video", {"duration_seconds": self.tawsiyat.get("video_duration")})

    # --- layers, each read once -------------------------------------------------------------------------
    root = layer(lambda self: parse_response(self.response))
    page_tags = layer(lambda self: read_page_tags(self.root, self.PAGE_TAGS))
    by_tag = layer(lambda self: self.page_tags.by_tag)
    meta = layer(lambda self: self.page_tags.meta)
    jsonld = layer(lambda self: read_jsonld(self.by_tag["script"]))
    ld_article = layer(lambda self: find_article(self.jsonld, self._own_urls))
    ld_video = layer(lambda self: find_video(self.jsonld, self.ld_article))
    ld_images = layer(lambda self: image_candidates(self.ld_article.get("image")))
    tawsiyat = layer(lambda self: read_tawsiyat(self.by_tag["script"]))
    by_class = layer(lambda self: elements_by_class(self.item_container))

    @layer
    def item_element(self):
        """``article.article-details``: the item template's own container."""
        return next((el for el in self.by_tag["article"] if has_class(el, self.ITEM_CLASS)), None)

    @layer
    def item_container(self):
        """The item's element; without one, the page's ``<article data-postid>``/``<main>``/``<body>``."""
        if self.item_element is not None or self.root is None:
            return self.item_element
        for found in (
            next((el for el in self.by_tag["article"] if el.get("data-postid")), None),
            next(self.root.iter("main"), None),
            self.root.find("body"),
        ):
            if found is not None:
                return found
        return self.root

    @layer
    def body(self) -> Body:
        """``div#article-content`` (by class, checked by id; by id alone; by class alone), walked once."""
        by_class = self.by_class.get(self.CONTENT_CLASS, [])
        content = next((el for el in by_class if el.get("id") == self.CONTENT_ID), None)
        if content is None and self.item_container is not None:
            content = next(iter(self.CONTENT_BY_ID(self.item_container)), None)
        return read_body(content if content is not None else next(iter(by_class), None), self.BODY_RULES)

    @layer
    def main_image(self) -> dict | None:
        """The first main figure or media box; else the video player's poster."""
        container = next((el for el in map(self.by_class.first, self.MAIN_IMAGE) if el is not None), None)
        if container is not None:
            return with_image_facts(figure_image(container), self.ld_images, self.url, self.tracking)
        player = self.by_class.first(self.VIDEO_PLAYER)
        return player_poster(player) if player is not None else None

    @layer
    def related_links(self) -> list[dict]:
        """Inline read-more lines and the Related News box (body order), then the Read Next cards."""
        block = next(
            (
                el
                for el in self.by_tag["section"]
                if el.get("id") == self.READ_NEXT_ID or has_class(el, self.READ_NEXT_CLASS)
            ),
            None,
        )
        if block is None and self.root is not None:
            block = next(iter(self.READ_NEXT_ANY(self.root)), None)
        if block is None:
            return self.body.links
        return self.body.links + card_links(block, "read_next", self.CARD, self.CARD_TITLE, self.SECTION_HEAD)

    def _own_urls(self) -> set[str]:
        """The page's URLs, canonical: the one it was fetched at and its canonical link."""
        return {url for url in (public_url(self.url), public_url(self.page_tags.canonical, self.url)) if url}

    def menu_label(self, keys: list[str]) -> str | None:
        """The site menu's label for the listing at ``/keys…`` (``/news/politics`` -> Politics)."""
        if not keys or self.root is None:
            return None
        relative = "/" + "/".join(keys)
        found = self.MENU_LINK(self.root, absolute=PUBLIC_URL + relative, relative=relative)
        return element_text(found[0]) if found else None
