"""The export's ``croissant.json`` (validated and loaded by ``mlcroissant``, its records compared with
the JSON Lines files) and the card's licence, terms, provenance and known limitations."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mayadeen import __version__
from mayadeen.export.datasets import ARTICLES
from mayadeen.export.escape import markdown_text
from mayadeen.export.run import ExportRequest, export
from mayadeen.store.engines import StoreTarget, connect
from tests.conftest import ROOT
from tests.test_export import read_jsonl
from tests.test_export_postgres import fill


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A SQLite store with 14 items, revisions, a run and 12 flashes, exported with its revisions."""
    root = tmp_path_factory.mktemp("croissant")
    target = StoreTarget("sqlite", str(root / "mayadeen.sqlite"))
    with connect(target) as store:
        fill(store)
    export(ExportRequest(store=target, out=root / "out", with_revisions=True))
    return root / "out"


def plain(value):
    """An mlcroissant value as the JSON Lines file has it."""
    import numpy as np
    import pandas as pd

    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, (list, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, dict):  # an object's subfields; a null object has every subfield null
        out = {key.rsplit("/", 1)[-1]: plain(v) for key, v in value.items()}
        return None if all(v is None for v in out.values()) else out
    if isinstance(value, np.generic):
        return value.item()
    return value


def test_mlcroissant_validates_the_file_and_loads_every_record_as_the_json_lines_have_it(exported):
    # Imported here, not at the top: every xdist worker imports every test module to collect it, and
    # mlcroissant with pandas costs about 1.2 s of CPU; one worker runs this test.
    import mlcroissant

    dataset = mlcroissant.Dataset(jsonld=exported / "croissant.json")
    issues = dataset.metadata.ctx.issues
    assert not issues.errors and not issues.warnings, issues.report()
    for name in ("articles", "revisions", "breaking"):
        want = read_jsonl(exported / f"{name}.jsonl")
        got = [
            {key.split("/", 1)[1]: plain(value) for key, value in record.items()}
            for record in dataset.records(record_set=name)
        ]
        assert len(got) == len(want) > 0, name
        assert got == want, name


def test_every_file_the_export_wrote_is_in_the_distribution_with_its_sha256(exported):
    document = json.loads((exported / "croissant.json").read_text("utf-8"))
    manifest = json.loads((exported / "manifest.json").read_text("utf-8"))
    assert document["conformsTo"] == "http://mlcommons.org/croissant/1.1" and "@context" in document
    assert manifest["croissant"] == "croissant.json"
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert "croissant.json" in listed, "the manifest lists croissant.json (and croissant.json not itself)"
    objects = {o["contentUrl"]: o["sha256"] for o in document["distribution"]}
    on_disk = {str(p.relative_to(exported)) for p in exported.rglob("*") if p.is_file()}
    assert set(objects) == on_disk - {"croissant.json", "manifest.json"}
    assert any(name.startswith("parquet_revisions/") for name in objects)
    for name, digest in objects.items():
        assert digest == hashlib.sha256((exported / name).read_bytes()).hexdigest() == listed[name], name
    assert document["version"] == __version__ and document["datePublished"] == "2025-08-05T06:00:00Z"  # last crawled


def test_fields_and_their_types_come_from_the_json_schema(exported):
    document = json.loads((exported / "croissant.json").read_text("utf-8"))
    articles = next(r for r in document["recordSet"] if r["@id"] == "articles")
    fields = {f["name"]: f for f in articles["field"]}
    assert list(fields) == list(ARTICLES.schema()["properties"])
    assert fields["url"]["dataType"] == "sc:URL" and fields["date_published"]["dataType"] == "sc:DateTime"
    assert fields["word_count"]["dataType"] == "sc:Integer" and fields["read_time_minutes"]["dataType"] == "sc:Integer"
    assert fields["headline"]["dataType"] == "sc:Text" and fields["headline"]["description"]
    assert fields["tags"]["isArray"] is True and fields["tags"]["dataType"] == "sc:Text"
    assert [s["name"] for s in fields["image"]["subField"]] == ["url", "caption", "credit"]
    assert fields["images"]["isArray"] is True and fields["images"]["subField"][0]["dataType"] == "sc:URL"
    breaking = next(r for r in document["recordSet"] if r["@id"] == "breaking")
    assert {f["name"]: f.get("dataType") for f in breaking["field"]}["time_estimated"] == "sc:Boolean"


def test_the_card_names_its_licence_terms_provenance_and_limitations(exported):
    card = (exported / "README.md").read_text("utf-8")
    for section in ("## Licence and terms", "## Provenance", "## Known limitations"):
        assert section in card
    terms = card.split("## Licence and terms", 1)[1].split("\n## ", 1)[0]
    assert "code: MIT (LICENSE)" in terms and "Al Mayadeen's, the publisher" in terms
    assert "check the publisher's terms" in terms and "research" in terms
    provenance = card.split("## Provenance", 1)[1].split("\n## ", 1)[0]
    assert f"mayadeen {__version__}" in provenance and "its SQLite store" in provenance
    assert "2025-08-04T12:30:00Z to 2025-08-05T06:00:00Z" in provenance, "first and last scraped_at exported"
    assert "| sitemap | 1 | 2025-08-04T12:00:00Z | 2025-08-05T06:00:00Z |" in provenance
    assert "ROBOTSTXT_OBEY" in provenance
    # as card text: the address escaped (a renderer shows it as written, and links it nowhere)
    assert "Al Mayadeen English items (https\\://english.almayadeen.net), crawled up to 2025-08-05T06:00:00Z" in terms
    licence = (ROOT / "LICENSE").read_text("utf-8")
    assert licence.startswith("MIT License") and "the mayadeen authors" in licence


def test_store_values_in_the_card_cannot_make_markup():
    hostile = "<script>alert(1)</script> *bold* [link](http://x) | cell\n# title & `code` _u_ ~s~"
    assert markdown_text(hostile) == (
        "&lt;script&gt;alert(1)&lt;/script&gt; \\*bold\\* \\[link\\](http\\://x) \\| cell"
        " # title &amp; \\`code\\` \\_u\\_ \\~s\\~"
    )
