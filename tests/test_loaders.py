"""The item loader on its own: layers in priority order, per-value normalising, the loaded item's defaults."""

from __future__ import annotations

from mayadeen.items import ArticleItem
from mayadeen.loaders import ArticleLoader
from mayadeen.record import EXTRACTED_KEYS

PAGE = "https://english.almayadeen.net/news/politics/some-slug"


def _never():
    raise AssertionError("a layer after the one that gave the value was read")


def test_add_first_takes_the_first_layer_that_normalises_and_reads_no_later_one():
    loader = ArticleLoader(base_url=PAGE)
    assert loader.add_first("headline", None, "   ", lambda: "Hello  &amp; world", _never)
    assert not loader.add_first("summary", None, " ", lambda: None)
    item = loader.load_item()
    assert item["headline"] == "Hello & world"
    assert item["summary"] is None


def test_hrefs_are_resolved_against_the_page_and_lose_tracking_parameters():
    loader = ArticleLoader(base_url=PAGE, tracking=("ref",))
    loader.add_first("url", "/News/Politics/Other-Slug?utm_source=x&ref=y")
    loader.add_value("related", [{"url": "other?ref=1", "title": " A  b ", "relation": "read_more"}, "junk"])
    item = loader.load_item()
    assert item["url"] == "https://english.almayadeen.net/news/politics/other-slug"
    assert item["related"] == [
        {"url": "https://english.almayadeen.net/news/politics/other", "title": "A b", "relation": "read_more"}
    ]


def test_list_values_are_normalised_each_and_added_values_accumulate():
    loader = ArticleLoader(base_url=PAGE)
    loader.add_value("body", ["  First\n block ", "", None, "Second"])
    loader.add_value("body", "Third")
    loader.add_value("word_count", loader.get_collected_values("body"))
    loader.add_value("tags", ["Iraq", " Iraq ", "Politics"])
    item = loader.load_item()
    assert item["body"] == "First block\n\nSecond\n\nThird"
    assert item["word_count"] == len(item["body"].split()) == 4
    assert item["tags"] == ["Iraq", "Politics"]


def test_a_field_without_an_each_processor_collects_through_its_own():
    loader = ArticleLoader(base_url=PAGE)
    loader.add_value("content_hash", ["a", "b"])
    loader.add_value("content_hash", "c")
    assert loader.get_collected_values("content_hash") == ["a", "b", "c"]
    loader.replace_value("content_hash", "d")
    assert loader.load_item()["content_hash"] == ["d"]


def test_the_loaded_item_has_every_extracted_key_and_keeps_what_it_held():
    item = ArticleItem(section="Held")
    loaded = ArticleLoader(item=item, base_url=PAGE).load_item()
    assert loaded is item
    assert set(EXTRACTED_KEYS) <= set(loaded)
    assert loaded["section"] == "Held"
    assert (loaded["tags"], loaded["body"], loaded["word_count"], loaded["headline"]) == ([], "", 0, None)
