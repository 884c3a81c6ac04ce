"""Page object for item pages (article, video, infograph, gallery) of Al Mayadeen English.

Extraction only: no requests, no crawl state. ``ArticlePage(response)`` reads one ``TextResponse``
whose ``url`` is the public URL and offers ``is_item()``, ``to_item()`` and ``links()``.

Every fact is on the page several times (JSON-LD, ``<head>`` meta, the CMS's tawsiyat JSON, the
visible DOM). Each layer is parsed once per page (``cached_property``) and each field hands the
loader its candidates from all layers in priority order; ``ArticleLoader`` normalises them and the
first usable one wins, so a missing or broken layer falls through to the next. The HTML is parsed
once (Scrapy caches ``response.selector``); the item's DOM is indexed by class in one XPath pass.
"""

from __future__ import annotations

import logging
import re
from functools import cached_property
from urllib.parse import urlsplit

from lxml import etree

from mayadeen import normalize as n
from mayadeen.items import ArticleItem
from mayadeen.loaders import ArticleLoader
from mayadeen.urls import PUBLIC_URL, item_kind

logger = logging.getLogger(__name__)


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def _first(value):
    """First element of a JSON list, the value itself otherwise."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _types(node: dict) -> set[str]:
    """``@type`` names, lowercased, without a schema.org prefix."""
    raw = node.get("@type")
    names = raw if isinstance(raw, list) else [raw]
    return {t.rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for t in names if isinstance(t, str)}


def _tokens(el) -> list[str]:
    cls = el.get("class")
    return cls.split() if cls else []


class ArticlePage:
    """One item page. Build it from a ``TextResponse``; all methods are safe on any input."""

    # --- selectors --------------------------------------------------------------------------------
    # Tag-filtered ``iter()`` runs in C and beats ``//*[predicate]`` XPath scans by 5-10x on these
    # pages, so whole-page lookups go by tag name and the item's DOM is indexed by class once.
    PAGE_TAGS = ("meta", "link", "script", "article", "section")
    ITEM_TAG, ITEM_CLASS = "article", "article-details"
    CLASSED = etree.XPath("descendant::*[@class]")
    CONTENT_BY_ID = etree.XPath("descendant::*[@id='article-content'][1]")
    READ_NEXT_ID, READ_NEXT_CLASS = "read-next", "read-next"
    READ_NEXT_ANY = etree.XPath(f"descendant::*[@id='read-next' or {_has_class('read-next')}][1]")
    MENU_LINK = etree.XPath("descendant::header//a[@href=$absolute or @href=$relative]")

    # Class names of the item template (stable per template, see the site README).
    C_TITLE = "article-title"
    C_AUTHOR = "article-info__author"
    C_AUTHOR_NAME = "author-name"
    C_SOURCE = "article-info__source"
    C_DATE = "article-info__date"
    C_UPDATED = "article-info__updated"
    C_SHARES = "article-info__shares"
    C_READ_TIME = "read-time"
    C_BRIEF = "article-brief"
    C_MAIN_FIGURES = ("main-image", "infograph-media__figure")
    C_MAIN_MEDIA = ("article-main-media", "infograph-media")
    C_VIDEO_PLAYER = "video-player"
    C_VIDEO_DURATION = "video-duration"
    C_GALLERY_ITEM = "gallery-slider__item"
    C_TAG_LINK = "tags-list__link"
    C_TAGS = "article-tags"
    C_CARD, C_CARD_TITLE, C_SECTION_HEAD = "card", "card__title", "section-head"
    ID_CONTENT = "article-content"
    C_CONTENT = "article-content"

    # Inside the body: what is not article text.
    C_RELATED_BOX = "related-news-box"
    C_RELATED_TEXT = "related-news-box__text"
    C_TWEET = "twitter-tweet"
    SKIP_CLASSES = frozenset({"ad-slot", "share-box", "gallery-slider", "author-box", "article-tags"})
    SKIP_TAGS = n.INVISIBLE_TAGS | {"figcaption", "form", "nav"}
    READ_MORE = re.compile(r"\s*read\s+(?:more|next|also)\s*:", re.I)

    # JSON-LD types of an item besides ``*Article`` (NewsArticle, OpinionNewsArticle, …).
    ARTICLE_TYPES = frozenset({"blogposting", "liveblogposting"})

    def __init__(self, response):
        self.response = response
        self.url = getattr(response, "url", None) or PUBLIC_URL

    # --- public API -------------------------------------------------------------------------------

    def is_item(self) -> bool:
        """True for an article/video/infograph/gallery page, judged by its structure and metadata."""
        try:
            if self._item_element is not None or self._ld_article:
                return True
            tw = self._tawsiyat
            return bool(n.to_post_id(tw.get("postid")) and n.to_kind(tw.get("type")))
        except Exception:  # never let a broken page stop the crawl
            logger.exception("is_item failed on %s", self.url)
            return False

    def to_item(self) -> ArticleItem | None:
        """The record (without ``scraped_at``/``content_hash``), or None when this is no item page."""
        if not self.is_item():
            return None
        try:
            return self._build_item()
        except Exception:
            logger.exception("extraction failed on %s", self.url)
            return None

    def links(self) -> list[str]:
        """Canonical URLs of the related links (read more, related news, read next), deduplicated."""
        try:
            urls = [link["url"] for link in n.normalize_links(self._related_candidates, self.url)]
        except Exception:
            logger.exception("links failed on %s", self.url)
            return []
        return list(dict.fromkeys(urls))

    # --- the record -------------------------------------------------------------------------------

    def _build_item(self) -> ArticleItem:
        loader = ArticleLoader(base_url=self.url)
        ld, tw = self._ld_article, self._tawsiyat
        entity = ld.get("mainEntityOfPage")
        loader.add_value("url", [
            self._canonical, self._meta_first("og:url"), ld.get("url"),
            entity.get("@id") if isinstance(entity, dict) else entity, tw.get("url"), self.url,
        ])
        url = loader.get_output_value("url") or self.url
        loader.add_value("article_id", [
            self._meta_first("postid"), tw.get("postid"), self._item_attr("data-postid"),
            ld.get("identifier"), self._item_attr("id"),
        ])
        loader.add_value("kind", [
            item_kind(url), tw.get("type"), self._item_attr("data-type"), self._meta_first("og:type"),
        ])
        kind = loader.get_output_value("kind")
        loader.add_value("headline", [
            self._text_of(self.C_TITLE), self._meta_first("og:title"), ld.get("headline"),
            tw.get("title"), self._meta_first("twitter:title"),
        ])
        self._add_sections(loader, url)
        loader.add_value("summary", self._text_of(self.C_BRIEF))
        loader.add_value("body", [self._content["blocks"]])
        loader.add_value("word_count", loader.get_output_value("body") or "")
        loader.add_value("authors", [
            [n.element_text(el) for el in self._within(self.C_AUTHOR, self.C_AUTHOR_NAME)],
            self._text_of(self.C_AUTHOR), ld.get("author"), self._tawsiyat_classes("writer"),
            self._meta_first("author"), tw.get("author"),
        ])
        loader.add_value("source", self._text_of(self.C_SOURCE))
        loader.add_value("date_published", [
            ld.get("datePublished"), self._meta_first("article:published_time"),
            tw.get("published_time"), lambda: self._dom_dates(self.C_DATE), self._ld_video.get("uploadDate"),
        ])
        loader.add_value("date_modified", [
            ld.get("dateModified"), self._meta_first("article:modified_time"),
            tw.get("last_updated"), lambda: self._dom_dates(self.C_UPDATED),
        ])
        loader.add_value("tags", [
            [n.element_text(el) for el in self._tag_links], self._meta.get("article:tag"),
            ld.get("keywords"), self._tawsiyat_classes("tag"), self._meta_first("keywords"),
            tw.get("keywords"),
        ])
        loader.add_value("read_time_minutes", self._text_of(self.C_READ_TIME))
        loader.add_value("shares", [
            *(el.get("data-count") for el in self._within(self.C_SHARES) if el.get("data-count")),
            self._text_of(self.C_SHARES),
        ])
        self._add_images(loader)
        if kind == "video":
            loader.add_value("video", self._video_candidates)
        loader.add_value("related", [self._related_candidates])
        loader.add_value("language", [
            self._root.get("lang") if self._root is not None else None, ld.get("inLanguage"),
            tw.get("lang"), self._meta_first("og:locale"), self._meta_first("language"),
        ])
        return loader.load_item()

    def _add_sections(self, loader: ArticleLoader, url: str) -> None:
        """Section and group: metadata first, then the breadcrumb, then (only if all those failed)
        the menu label of the URL's section/group listing, then a title made from the URL key."""
        crumbs = self._crumbs(url)
        path = urlsplit(url).path.strip("/").split("/") if item_kind(url) else []
        loader.add_value("section", [
            self._meta_first("article:section"), _first(self._ld_article.get("articleSection")),
            _first(self._tawsiyat_classes("category")), crumbs[-1] if crumbs else None,
            lambda: self._menu_label(path[:-1]),
            lambda: n.title_from_key(path[-2] if len(path) > 1 else None),
        ])
        loader.add_value("section_group", [
            crumbs[0] if crumbs else None, _first(self._tawsiyat_classes("section")),
            lambda: self._menu_label(path[:1]), lambda: n.title_from_key(path[0] if path else None),
        ])

    def _menu_label(self, keys: list[str]) -> str | None:
        """The site menu's label for the listing at ``/keys…`` (e.g. ``/news/politics`` -> Politics)."""
        if not keys or self._root is None:
            return None
        rel = "/" + "/".join(keys)
        menu = self.MENU_LINK(self._root, absolute=PUBLIC_URL + rel, relative=rel)
        return n.element_text(menu[0]) if menu else None

    def _add_images(self, loader: ArticleLoader) -> None:
        """Main image from the DOM (figure or video poster), else JSON-LD, og:image, tawsiyat;
        then ``images`` = main image + body/gallery images in page order."""
        ld_images = self._ld_article.get("image")
        ld_list = ld_images if isinstance(ld_images, list) else [ld_images]
        ld_list = [self._ld_image(i) for i in ld_list if i]
        loader.add_value("image", [
            self._main_image, *ld_list[:1], self._meta_first("og:image"), self._tawsiyat.get("thumbnail"),
        ])
        main = loader.get_output_value("image")
        slides = [self._figure_image(el) for el in self._marked.get(self.C_GALLERY_ITEM, [])]
        rest = self._content["figures"] + slides
        lead = [main] if main else []
        loader.add_value("images", [
            lead + rest if rest else None, ld_list if len(ld_list) > 1 else None, lead,
        ])

    # --- page layers (each parsed once) -----------------------------------------------------------

    @cached_property
    def _root(self):
        try:
            root = self.response.selector.root
        except Exception:
            return None
        return root if isinstance(getattr(root, "tag", None), str) else None

    @cached_property
    def _page_elements(self) -> dict[str, list]:
        """The page's ``<meta>``, ``<link>``, ``<script>``, ``<article>`` and ``<section>`` elements by
        tag, in page order, from ONE C-level walk of the tree (each extra walk of a cold tree costs
        about a tenth of the parse)."""
        found: dict[str, list] = {tag: [] for tag in self.PAGE_TAGS}
        if self._root is not None:
            for el in self._root.iter(*self.PAGE_TAGS):
                found[el.tag].append(el)
        return found

    @cached_property
    def _meta(self) -> dict[str, list[str]]:
        """``name``/``property`` (lowercased) -> contents in page order."""
        meta: dict[str, list[str]] = {}
        for el in self._page_elements["meta"]:
            if el.get("content") is not None:
                key = el.get("property") or el.get("name") or el.get("itemprop")
                if key:
                    meta.setdefault(key.strip().lower(), []).append(el.get("content"))
        return meta

    def _meta_first(self, key: str):
        values = self._meta.get(key)
        return values[0] if values else None

    @cached_property
    def _canonical(self) -> str | None:
        for el in self._page_elements["link"]:
            if "canonical" in (el.get("rel") or "").lower().split():
                return el.get("href")
        return None

    @cached_property
    def _scripts(self) -> dict[str, list[str]]:
        """Texts of the JSON-LD and tawsiyat scripts, in page order."""
        found: dict[str, list[str]] = {"jsonld": [], "tawsiyat": []}
        for el in self._page_elements["script"]:
            if not el.text:
                continue
            kind = (el.get("type") or "").lower()
            if "ld+json" in kind:
                found["jsonld"].append(el.text)
            elif kind == "text/tawsiyat" or el.get("id") == "tawsiyat-metadata":
                found["tawsiyat"].append(el.text)
        return found

    @cached_property
    def _jsonld(self) -> list[dict]:
        """All JSON-LD nodes: top-level objects, arrays and ``@graph`` members; broken blocks skipped."""
        nodes: list[dict] = []

        def collect(data, depth=0):
            if depth > 4:
                return
            if isinstance(data, list):
                for member in data:
                    collect(member, depth + 1)
            elif isinstance(data, dict):
                if "@type" in data:
                    nodes.append(data)
                if isinstance(data.get("@graph"), (list, dict)):
                    collect(data["@graph"], depth + 1)

        for text in self._scripts["jsonld"]:
            collect(n.parse_json_lenient(text))
        return nodes

    def _ld_node(self, match) -> dict:
        for node in self._jsonld:
            if match(_types(node)):
                return node
        return {}

    @cached_property
    def _ld_article(self) -> dict:
        return self._ld_node(
            lambda types: any(t.endswith("article") or t in self.ARTICLE_TYPES for t in types))

    @cached_property
    def _ld_video(self) -> dict:
        nested = _first(self._ld_article.get("video"))
        found = self._ld_node(lambda types: "videoobject" in types)
        return found or (nested if isinstance(nested, dict) else {})

    @cached_property
    def _tawsiyat(self) -> dict:
        texts = self._scripts["tawsiyat"]
        data = n.parse_json_lenient(texts[0]) if texts else None
        return data if isinstance(data, dict) else {}

    def _tawsiyat_classes(self, key: str) -> list:
        classes = self._tawsiyat.get("classes")
        if not isinstance(classes, list):
            return []
        return [c.get("value") for c in classes if isinstance(c, dict) and c.get("key") == key]

    def _crumbs(self, url: str) -> list[str]:
        """Breadcrumb names between Home and the item itself: ``[group, section]`` (or ``[group]``)."""
        trail = self._ld_node(lambda types: "breadcrumblist" in types).get("itemListElement")
        if not isinstance(trail, list):
            return []
        items = [i for i in trail if isinstance(i, dict)]
        items.sort(key=lambda i: n.to_int(i.get("position")) or 0)
        names = []
        for i, entry in enumerate(items):
            target = entry.get("item")
            name = entry.get("name") or (target.get("name") if isinstance(target, dict) else None)
            href = target.get("@id") if isinstance(target, dict) else target
            where = n.public_url(href, self.url) if href else None
            if where is not None:
                if urlsplit(where).path in ("", "/") or where.split("?", 1)[0] == url:
                    continue
            elif i == 0 or (i == len(items) - 1 and len(items) > 2):
                continue  # without URLs: first is Home, last is the item
            name = n.clean_text(name)
            if name:
                names.append(name)
        return names

    @staticmethod
    def _ld_image(value):
        if isinstance(value, dict):
            return {"url": value.get("url") or value.get("contentUrl"), "caption": value.get("caption"),
                    "credit": value.get("creditText") or value.get("credit")}
        return value

    # --- the visible item -------------------------------------------------------------------------

    @cached_property
    def _item_element(self):
        """``article.article-details``: the item template's own container."""
        return next((el for el in self._page_elements["article"] if self.ITEM_CLASS in _tokens(el)), None)

    @cached_property
    def _scope(self):
        """The item's element; without one, the page's ``<article>``/``<main>``, else the whole page."""
        if self._item_element is not None or self._root is None:
            return self._item_element
        for found in (next((el for el in self._page_elements["article"] if el.get("data-postid")), None),
                      next(self._root.iter("main"), None), self._root.find("body")):
            if found is not None:
                return found
        return self._root

    def _item_attr(self, name: str):
        return self._scope.get(name) if self._scope is not None else None

    @cached_property
    def _marked(self) -> dict[str, list]:
        """Elements of the item by class token, in page order, from one XPath query."""
        index: dict[str, list] = {}
        if self._scope is None:
            return index
        for el in self.CLASSED(self._scope):
            for token in el.get("class").split():
                index.setdefault(token, []).append(el)
        return index

    def _text_of(self, cls: str) -> str | None:
        found = self._marked.get(cls)
        return n.element_text(found[0]) if found else None

    def _within(self, outer: str, inner: str | None = None) -> list:
        """Descendants of the first ``.outer`` that carry class ``inner`` (any element if None)."""
        found = self._marked.get(outer)
        if not found:
            return []
        return [el for el in found[0].iter()
                if isinstance(el.tag, str) and (inner is None or inner in _tokens(el))]

    def _dom_dates(self, cls: str) -> str | None:
        """The byline's ``<time datetime>``, else its visible text, else the whole line, normalised."""
        found = self._marked.get(cls)
        if not found:
            return None
        times = list(found[0].iter("time"))
        for value in (*(t.get("datetime") for t in times), *(n.element_text(t) for t in times),
                      n.element_text(found[0])):
            moment = n.to_utc_iso(value)
            if moment:
                return moment
        return None

    @cached_property
    def _tag_links(self) -> list:
        links = self._marked.get(self.C_TAG_LINK)
        if links:
            return links
        box = self._marked.get(self.C_TAGS)
        return list(box[0].iter("a")) if box else []

    @cached_property
    def _content_element(self):
        """``div#article-content`` (by class, checked by id; by id alone; by class alone)."""
        by_class = self._marked.get(self.C_CONTENT, [])
        found = next((el for el in by_class if el.get("id") == self.ID_CONTENT), None)
        if found is None and self._scope is not None:
            found = next(iter(self.CONTENT_BY_ID(self._scope)), None)
        if found is None and by_class:
            found = by_class[0]
        return found

    @cached_property
    def _content(self) -> dict:
        """One walk over the body: text blocks, inline/related-box links and figures, in page order."""
        content = self._content_element
        if content is None:
            return {"blocks": [], "links": [], "figures": []}
        return _BodyWalker(self).walk(content)

    # --- media ------------------------------------------------------------------------------------

    @staticmethod
    def _img_sources(container) -> list:
        """Candidate sources of the first real image: lazy ``data-src`` first, ``src`` (placeholders are
        refused by the normaliser), ``srcset``; ``<noscript>`` fallbacks last."""
        visible, fallback = [], []
        for img in container.iter("img"):
            in_noscript = next(img.iterancestors("noscript"), None) is not None
            if in_noscript:
                fallback.append(img.get("src"))
            else:
                visible += [img.get(a) for a in ("data-src", "data-lazy-src", "data-original", "src",
                                                  "data-srcset", "srcset") if img.get(a)]
        return visible + fallback

    def _figure_image(self, container) -> dict:
        """``{url, caption, credit}`` candidate of a figure or gallery slide."""
        caption = credit = None
        figcaption = None
        for el in container.iter():
            if not isinstance(el.tag, str):
                continue
            cls = el.get("class") or ""
            if caption is None and "caption" in cls and el.tag not in ("img", "figure"):
                caption = n.element_text(el)
            elif credit is None and "credit" in cls:
                credit = n.element_text(el)
            if figcaption is None and el.tag == "figcaption":
                figcaption = el
        if caption is None and figcaption is not None:
            text = n.element_text(figcaption)
            caption = re.sub(r"^\d+\s*/\s*\d+\s*", "", text) if text else None  # "1/6" slide counter
        return {"url": self._img_sources(container), "caption": caption, "credit": credit}

    @cached_property
    def _main_image(self) -> dict | None:
        for cls in self.C_MAIN_FIGURES:
            if self._marked.get(cls):
                return self._figure_image(self._marked[cls][0])
        for cls in self.C_MAIN_MEDIA:
            for box in self._marked.get(cls, [])[:1]:
                return self._figure_image(box)
        for player in self._marked.get(self.C_VIDEO_PLAYER, [])[:1]:
            posters = [v.get("poster") for v in player.iter("video")]
            return {"url": posters + self._img_sources(player), "caption": None, "credit": None}
        return None

    @cached_property
    def _video_candidates(self) -> list[dict]:
        """Video URL and duration from the player, the byline, JSON-LD, meta and tawsiyat."""
        candidates = []
        for player in self._marked.get(self.C_VIDEO_PLAYER, [])[:1]:
            sources = [s.get("src") for s in player.iter("source", "video") if s.get("src")]
            frames = [f.get("src") or f.get("data-src") for f in player.iter("iframe")]
            candidates.append({"url": next((u for u in sources + frames if u), None),
                               "duration_seconds": player.get("data-duration")})
        for span in self._marked.get(self.C_VIDEO_DURATION, [])[:1]:
            candidates.append({"duration_seconds": span.get("data-duration") or n.element_text(span)})
        video = self._ld_video
        candidates.append({"url": video.get("contentUrl") or video.get("embedUrl"),
                           "duration_seconds": video.get("duration")})
        candidates.append({"url": self._meta_first("og:video:secure_url") or self._meta_first("og:video")
                           or self._meta_first("og:video:url"),
                           "duration_seconds": self._meta_first("video:duration")})
        candidates.append({"duration_seconds": self._tawsiyat.get("video_duration")})
        return candidates

    # --- links ------------------------------------------------------------------------------------

    @cached_property
    def _related_candidates(self) -> list[dict]:
        """Inline read-more lines and the Related News box (body order), then the Read Next cards."""
        return self._content["links"] + self._read_next_links

    @cached_property
    def _read_next_links(self) -> list[dict]:
        if self._root is None:
            return []
        section = next((el for el in self._page_elements["section"]
                        if el.get("id") == self.READ_NEXT_ID or self.READ_NEXT_CLASS in _tokens(el)), None)
        if section is None:
            section = next(iter(self.READ_NEXT_ANY(self._root)), None)
        if section is None:
            return []
        links, seen = [], set()
        for anchor in section.iter("a"):  # C-filtered walk: a few XPath calls would cost more here
            href = anchor.get("href")
            if not href or href in seen or self._in_section_head(anchor, section):
                continue
            seen.add(href)
            links.append({"url": href, "title": n.element_text(self._card_title(anchor)),
                          "relation": "read_next"})
        return links

    def _in_section_head(self, anchor, section) -> bool:
        """Whether a Read Next link is the block's own heading link ("All"), not a card."""
        for el in anchor.iterancestors():
            if el is section:
                return False
            if self.C_SECTION_HEAD in _tokens(el):
                return True
        return False

    def _card_title(self, anchor):
        """The card's ``.card__title`` (inside the link or elsewhere in its card), else the link."""
        for scope in (anchor, next((a for a in anchor.iterancestors() if self.C_CARD in _tokens(a)), None)):
            if scope is not None:
                title = next((el for el in scope.iter() if self.C_CARD_TITLE in _tokens(el)), None)
                if title is not None:
                    return title
        return anchor


class _BodyWalker:
    """Splits ``div#article-content`` into reader-visible blocks in one iterative pass.

    Block elements (p, h2-h4, li, blockquote, div…) and ``<br><br>`` end a block; ``<br>`` alone is
    a space. "Read more:"/"Read next:" lines become ``read_more`` links instead of text; the Related
    News box gives ``related_news`` links; ad slots, share widgets, scripts, figures (collected as
    images) and captions give no text; an embedded tweet gives its ``<p>`` only.
    """

    def __init__(self, page: ArticlePage):
        self.page = page
        self.blocks: list[str] = []
        self.links: list[dict] = []
        self.figures: list[dict] = []
        self._pieces: list[str] = []
        self._line_links: list[dict] = []
        self._breaks = 0
        self._dirty = False  # the current block has non-whitespace text

    def walk(self, content) -> dict:
        page = self.page
        walker = etree.iterwalk(content, events=("start", "end", "comment", "pi"))
        for event, el in walker:
            if event in ("comment", "pi"):
                self._text(el.tail)
                continue
            tag = el.tag if isinstance(el.tag, str) else ""
            if event == "end":
                if tag in n.BLOCK_TAGS and tag != "br":
                    self._flush()
                if el is not content:
                    self._text(el.tail)
                continue
            tokens = _tokens(el)
            if tag == "br":
                self._breaks += 1
                continue
            if page.C_RELATED_BOX in tokens:
                self._flush()
                self._related_box(el)
                walker.skip_subtree()
            elif page.C_TWEET in tokens:
                self._flush()
                self.blocks += [t for t in (n.element_text(p) for p in el.iter("p")) if t]
                walker.skip_subtree()
            elif tag == "figure" and next(el.iter("img"), None) is not None:
                self._flush()  # an image with its caption: an image, not text
                self.figures.append(page._figure_image(el))
                walker.skip_subtree()
            elif (tag in page.SKIP_TAGS or page.SKIP_CLASSES.intersection(tokens)
                  or el.get("hidden") is not None):
                walker.skip_subtree()
            else:
                if tag in n.BLOCK_TAGS:
                    self._flush()
                else:
                    self._resolve_breaks()
                if tag == "a" and el.get("href"):
                    self._line_links.append({"url": el.get("href"), "title": n.element_text(el),
                                             "relation": "read_more"})
                self._text(el.text)
        self._flush()
        return {"blocks": self.blocks, "links": self.links, "figures": self.figures}

    def _related_box(self, box) -> None:
        for a in box.iter("a"):
            if a.get("href"):
                text_el = next((el for el in a.iter() if isinstance(el.tag, str)
                                and self.page.C_RELATED_TEXT in _tokens(el)), a)
                self.links.append({"url": a.get("href"), "title": n.element_text(text_el),
                                   "relation": "related_news"})

    def _resolve_breaks(self) -> None:
        if self._breaks >= 2:
            self._flush()
        elif self._breaks == 1:
            self._pieces.append(" ")
        self._breaks = 0

    def _text(self, text) -> None:
        if not text:
            return
        if not text.isspace():
            if self._breaks:
                self._resolve_breaks()
            self._dirty = True
        self._pieces.append(text)

    def _flush(self) -> None:
        self._breaks = 0
        if self._dirty:  # raw text: the loader's join_blocks cleans every block
            text = "".join(self._pieces)
            if self._line_links and self.page.READ_MORE.match(text):
                self.links += self._line_links
            else:
                self.blocks.append(text)
            self._dirty = False
        if self._pieces:
            self._pieces = []
        if self._line_links:
            self._line_links = []
