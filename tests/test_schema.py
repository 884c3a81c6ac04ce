"""The record contract: mayadeen/schema/article.schema.json, and everything derived from it, agree."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mayadeen.items import ArticleItem
from mayadeen.loaders import ArticleLoader
from mayadeen.record import (
    EXTRACTED_KEYS,
    HASHED_KEYS,
    LIST_KEYS,
    PIPELINE_KEYS,
    RECORD_KEYS,
    SCHEMA_PATH,
    STRUCTURED_KEYS,
    UNORDERED_KEYS,
    content_hash,
    record_keys,
    schema,
    validation_errors,
)
from mayadeen.store.model import JSON_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = sorted((ROOT / "fixtures" / "expected").glob("*.json"))


def full_record(path: Path) -> dict:
    record = json.loads(path.read_text(encoding="utf-8"))
    record["scraped_at"] = "2025-08-04T12:30:00Z"
    record["content_hash"] = content_hash(record)
    return record


@pytest.fixture
def record() -> dict:
    return full_record(EXPECTED[0])


def test_there_are_14_expected_records():
    assert len(EXPECTED) == 14


def test_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA_PATH == ROOT / "mayadeen" / "schema" / "article.schema.json"


#: The record's keys, in their order: the contract, written out (not read from the schema).
KEYS = (
    "url",
    "article_id",
    "kind",
    "section_group",
    "section",
    "headline",
    "summary",
    "body",
    "authors",
    "source",
    "date_published",
    "date_modified",
    "tags",
    "read_time_minutes",
    "shares",
    "word_count",
    "image",
    "images",
    "video",
    "related",
    "language",
    "scraped_at",
    "content_hash",
)


def test_schema_keys_are_the_item_fields_all_required_no_others():
    assert tuple(schema()["properties"]) == KEYS
    assert tuple(ArticleItem.fields) == KEYS  # same order
    assert schema()["required"] == list(KEYS)
    assert schema()["additionalProperties"] is False


def test_every_field_is_described():
    assert all(len(prop["description"]) > 10 for prop in schema()["properties"].values())
    assert ArticleItem.fields["date_published"]["description"] == "Publication time, UTC, `YYYY-MM-DDThh:mm:ssZ`."


def test_the_key_groups():
    """Which keys the loader fills, the pipelines add, the store keeps as JSON and the hash covers."""
    assert RECORD_KEYS == KEYS
    assert LIST_KEYS == ("authors", "tags", "images", "related")
    assert all(schema()["properties"][key]["type"] == "array" for key in LIST_KEYS)
    assert JSON_COLUMNS == set(STRUCTURED_KEYS) == {"authors", "tags", "image", "images", "video", "related"}
    assert PIPELINE_KEYS == ("scraped_at", "content_hash")
    assert EXTRACTED_KEYS == KEYS[:-2]
    assert HASHED_KEYS == ("headline", "summary", "body", "authors", "tags", "images", "video")
    assert UNORDERED_KEYS == ("tags",)
    assert all(f"{key}_in" in vars(ArticleLoader) and f"{key}_out" in vars(ArticleLoader) for key in EXTRACTED_KEYS)
    assert not any(f"{key}_in" in vars(ArticleLoader) for key in PIPELINE_KEYS)


def test_hash_description_names_the_hashed_keys():
    description = schema()["properties"]["content_hash"]["description"]
    assert all(key in description for key in HASHED_KEYS)


@pytest.mark.parametrize("path", EXPECTED, ids=lambda p: p.stem)
def test_every_expected_record_validates(path):
    record = full_record(path)
    assert list(record) == list(record_keys())
    assert validation_errors(record) == []


def _set(path: str, value):
    def mutate(record):
        *parents, last = path.split("/")
        target = record
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(key):
    return lambda record: record.pop(key)


MUTATIONS = {
    # extra keys, at any level
    "extra key": _set("extra", 1),
    "extra key in image": _set("image/width", 800),
    "extra key in related": _set("related/0/rel", "x"),
    # dates
    "date without Z": _set("date_published", "2025-08-04T12:30:00"),
    "date with offset": _set("date_published", "2025-08-04T15:30:00+03:00"),
    "date without seconds": _set("date_modified", "2025-08-04T12:30Z"),
    "date only": _set("date_modified", "2025-08-04"),
    "impossible month": _set("date_published", "2025-13-04T12:30:00Z"),
    "impossible hour": _set("scraped_at", "2025-08-04T25:30:00Z"),
    "human date": _set("date_published", "4 Aug 2025 15:30"),
    "arabic-indic digits": _set("date_published", "٢٠٢٥-08-04T12:30:00Z"),
    "null date_published": _set("date_published", None),
    "null scraped_at": _set("scraped_at", None),
    # urls
    "other host": _set("url", "https://www.almayadeen.net/news/politics/x"),
    "look-alike host": _set("url", "https://english.almayadeen.net.example.com/news/politics/x"),
    "http": _set("url", "http://english.almayadeen.net/news/politics/x"),
    "query": _set("url", "https://english.almayadeen.net/news/politics/x?utm_source=t"),
    "fragment": _set("url", "https://english.almayadeen.net/news/politics/x#top"),
    "trailing slash": _set("url", "https://english.almayadeen.net/news/politics/x/"),
    "relative url": _set("url", "/news/politics/x"),
    "home page": _set("url", "https://english.almayadeen.net"),
    "relative image url": _set("image/url", "/Content/uploadsimages/x.jpg"),
    "relative related url": _set("related/0/url", "/news/politics/x"),
    # wrong types and values
    "article_id as int": _set("article_id", 1689403),
    "article_id not digits": _set("article_id", "p-1689403"),
    "kind unknown": _set("kind", "podcast"),
    "section_group unknown": _set("section_group", "Opinion"),
    "empty headline": _set("headline", ""),
    "blank headline": _set("headline", "   "),
    "headline as list": _set("headline", ["a"]),
    "body null": _set("body", None),
    "authors as string": _set("authors", "Al Mayadeen English"),
    "authors empty": _set("authors", []),
    "tag not a string": _set("tags/0", 7),
    "shares as string": _set("shares", "7"),
    "shares negative": _set("shares", -1),
    "word_count float": _set("word_count", 12.5),
    "word_count bool": _set("word_count", True),
    "read_time_minutes as text": _set("read_time_minutes", "4 Min Read"),
    "image as string": _set("image", "https://english.almayadeen.net/x.jpg"),
    "image without credit key": lambda r: r["image"].pop("credit"),
    "images null": _set("images", None),
    "video without duration": _set("video", {"url": "https://www.youtube.com/embed/x"}),
    "video duration as text": _set("video", {"url": "https://www.youtube.com/embed/x", "duration_seconds": "00:01:48"}),
    "relation unknown": _set("related/0/relation", "most_read"),
    "language null": _set("language", None),
    "content_hash short": _set("content_hash", "abc123"),
    "content_hash upper": _set("content_hash", "A" * 64),
}


@pytest.mark.parametrize("mutate", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_broken_record_fails(record, mutate):
    mutate(record)
    assert validation_errors(record)


@pytest.mark.parametrize("key", list(ArticleItem.fields))
def test_missing_key_fails(record, key):
    del record[key]
    assert validation_errors(record) == [f"(record): '{key}' is a required property"]


NULLABLE = ["summary", "source", "date_modified", "read_time_minutes", "shares", "image", "video"]


@pytest.mark.parametrize("key", NULLABLE)
def test_documented_nulls_are_valid(record, key):
    record[key] = None
    assert validation_errors(record) == []


def test_error_names_the_field_and_the_cause(record):
    record["image"]["url"] = "nope"
    record["shares"] = "7"
    assert validation_errors(record) == [
        "image/url: 'nope' is not a 'uri'",
        "shares: '7' is not of type 'integer', 'null'",
    ]


def test_error_message_is_cut_short(record):
    record["body"] = ["x" * 10_000]
    (error,) = validation_errors(record)
    assert error.startswith("body: ") and len(error) < 300


# --- content hash ----------------------------------------------------------------------------------


def test_content_hash_is_a_pinned_digest(record):
    """sha256 of the hashed keys as canonical JSON (sorted keys, tags sorted, UTF-8): a change of the
    recipe changes every stored hash, so every item would look changed at the next run."""
    assert record["url"].endswith("/iraqs-pmf-law-seen-as-test-of-sovereignty-amid-us-objections")
    assert content_hash(record) == "48fb7ce4266a60f469572206760e57fb6351a2183ba7ac7980b863796318d771"
    record["tags"] = list(reversed(record["tags"]))
    assert content_hash(record) == "48fb7ce4266a60f469572206760e57fb6351a2183ba7ac7980b863796318d771"


def test_content_hash_ignores_key_order_and_volatile_fields(record):
    digest = content_hash(record)
    shuffled = dict(reversed(list(record.items())))
    shuffled.update(
        shares=999,
        scraped_at="2030-01-01T00:00:00Z",
        date_modified="2030-01-01T00:00:00Z",
        related=[],
        content_hash="0" * 64,
    )
    assert content_hash(shuffled) == digest


@pytest.mark.parametrize("key", HASHED_KEYS)
def test_content_hash_changes_with_content(record, key):
    digest = content_hash(record)
    changed = copy.deepcopy(record)
    changed[key] = None if record[key] is not None else "x"
    assert content_hash(changed) != digest


def test_content_hash_of_non_ascii_text_is_utf8(record):
    record["headline"] = "Beirut’s “last” bookbinders — بيروت"
    assert content_hash(record) == "0d1640b77891f08c76566a22ca4a72c219d1e46359661dc95d4216bac8013223"


def test_content_hashes_of_expected_records_differ():
    assert len({content_hash(full_record(p)) for p in EXPECTED}) == len(EXPECTED)
