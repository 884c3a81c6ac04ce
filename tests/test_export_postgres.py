"""``scrapy export`` of a PostgreSQL store: the same items, revisions, flashes and run stored through
the store interface into a SQLite file and into a real PostgreSQL database, both exported, and the
files compared byte for byte; one snapshot for a whole export on both engines; store URLs and their
errors on the command line (one line, no password)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from mayadeen.export.run import ExportRequest, export
from mayadeen.record import content_hash
from mayadeen.store.engines import StoreTarget, connect
from mayadeen.store.read import Selection, StoreSnapshot
from tests.postgres_server import free_port
from tests.test_export import _files, export_in_process, read_jsonl
from tests.ticker_pages import STORED_FLASHES

EXPECTED = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "expected").glob("*.json"))
T0, T1, T2 = "2025-08-04T12:00:00Z", "2025-08-04T12:30:00Z", "2025-08-05T06:00:00Z"
PASSWORD = "s3cret-word"
#: Files that name the store: the card (its engine), the manifest (the store, the time) and
#: croissant.json (the time, the card's digest).
NAMING = ("README.md", "manifest.json", "croissant.json")


def _records() -> list[dict]:
    out = []
    for path in EXPECTED:
        record = {**json.loads(path.read_text("utf-8")), "scraped_at": T1}
        record["content_hash"] = content_hash(record)
        out.append(record)
    return out


def _revised(record: dict, n: int) -> dict:
    new = {**record, "body": f"{record['body']}\n\nUpdate {n}: the story moved on.", "scraped_at": T2}
    new["content_hash"] = content_hash(new)
    return new


def fill(store) -> None:
    """The same content in any store: 14 items (two of them revised, one twice), a run, 12 flashes."""
    run = store.start_run("sitemap", {"full": "1"}, started_at=T0)
    records = _records()
    for record in records:
        store.upsert(record, seen_at=T1, listed=record["date_published"], run_id=run)
    store.upsert(_revised(records[0], 1), seen_at=T2, run_id=run)
    store.upsert(_revised(records[0], 2), seen_at=T2.replace("06:", "07:"), run_id=run)
    store.upsert(_revised(records[5], 1), seen_at=T2, run_id=run)
    store.finish_run(
        run,
        finished_at=T2,
        items_new=14,
        items_updated=3,
        requests=20,
        errors=0,
        responses_by_status={"200": 19, "404": 1},
        finish_reason="finished",
    )
    flashes = [(time, text, False, None, None) for time, text in reversed(STORED_FLASHES)]
    flashes += [
        ("2025-08-05T09:00:00Z", "Estimated: a flash without a usable time", True, None, None),
        (
            "2025-08-05T10:00:00Z",
            "Edited: the people of Gaza",
            False,
            records[3]["url"],
            ["Edited: the people in Gaza", "Edited: the ppl in Gaza"],
        ),
    ]
    for time, text, estimated, article_url, edits in flashes:
        store.write(
            lambda: store.run(
                "INSERT INTO breaking_news (text, time, time_estimated, url, first_seen, last_seen, article_url,"
                " language,"
                " text_key, edits) VALUES ($1, $2, $3, NULL, $4, $5, $6, 'en', $7, $8)",
                (text, time, estimated, time, T2, article_url, text.lower(), store.json(edits)),
            )
        )


@dataclass
class Stores:
    sqlite: StoreTarget
    postgresql: StoreTarget


@pytest.fixture(scope="module")
def stores(postgres_cluster, tmp_path_factory) -> Stores:
    url = postgres_cluster.new_database()
    both = Stores(
        StoreTarget("sqlite", str(tmp_path_factory.mktemp("sqlite") / "mayadeen.sqlite")),
        StoreTarget("postgresql", url.replace("postgres@", f"postgres:{PASSWORD}@", 1)),
    )
    assert PASSWORD in both.postgresql.location
    for target in (both.sqlite, both.postgresql):
        with connect(target) as store:
            fill(store)
    return both


@pytest.fixture(scope="module")
def exports(stores, tmp_path_factory) -> dict[str, Path]:
    """Both stores exported with their revisions: SQLite named by a sqlite:/// URL, PostgreSQL as the
    crawl's store (MAYADEEN_STORE_URL)."""
    root = tmp_path_factory.mktemp("exports")
    out = {"sqlite": root / "sqlite", "postgresql": root / "postgresql"}
    from_sqlite = export_in_process(out["sqlite"], "--store", f"sqlite:///{stores.sqlite.location}", "--with-revisions")
    from_postgres = export_in_process(
        out["postgresql"], "-s", f"MAYADEEN_STORE_URL={stores.postgresql.location}", "--with-revisions"
    )
    summaries = [
        [line for line in proc.stdout.replace(str(dir), "DIR").splitlines() if not line.startswith(NAMING)]
        for proc, dir in ((from_sqlite, out["sqlite"]), (from_postgres, out["postgresql"]))
    ]
    assert summaries[0] == summaries[1] and "14 items published" in summaries[0][-1]
    assert PASSWORD not in from_postgres.stdout + from_postgres.log
    return out


def test_postgresql_export_is_byte_identical_to_the_sqlite_export(exports):
    sqlite, postgresql = _files(exports["sqlite"]), _files(exports["postgresql"])
    assert set(sqlite) == set(postgresql)
    assert {
        "articles.jsonl",
        "articles.csv",
        "revisions.jsonl",
        "revisions.csv",
        "breaking.jsonl",
        "breaking.csv",
        "report.html",
    } <= set(sqlite)
    assert any(name.startswith("parquet_revisions/") for name in sqlite)
    for name in sorted(set(sqlite) - set(NAMING)):
        assert sqlite[name] == postgresql[name], name
    card = postgresql["README.md"].decode("utf-8")
    assert "kept in its PostgreSQL store" in card
    assert card.replace("PostgreSQL store", "SQLite store") == sqlite["README.md"].decode("utf-8")


def test_the_records_are_the_stored_ones_in_the_schema_order(exports):
    records = _records()
    articles = read_jsonl(exports["postgresql"] / "articles.jsonl")
    assert len(articles) == 14 and {r["url"] for r in articles} == {r["url"] for r in records}
    by_url = {r["url"]: r for r in articles}
    assert by_url[records[1]["url"]] == records[1]
    for record in articles:  # jsonb keeps an object's keys in an order of its own; the export has the schema's
        for image in [record["image"], *record["images"]] if record["image"] else record["images"]:
            assert list(image) == ["url", "caption", "credit"]
    revisions = read_jsonl(exports["postgresql"] / "revisions.jsonl")
    assert sorted((r["url"], r["revision"]) for r in revisions) == sorted(
        [(records[0]["url"], 1), (records[0]["url"], 2), (records[5]["url"], 1)]
    )
    first = next(r for r in revisions if r["revision"] == 1 and r["url"] == records[0]["url"])
    assert {k: first[k] for k in records[0]} == records[0] and first["seen_at"] == T1
    flashes = read_jsonl(exports["postgresql"] / "breaking.jsonl")
    assert len(flashes) == 12 and [f["time"] for f in flashes] == sorted(f["time"] for f in flashes)
    assert flashes[-1]["edits"] == ["Edited: the people in Gaza", "Edited: the ppl in Gaza"]
    assert flashes[-2]["time_estimated"] is True and flashes[0]["edits"] == []


def test_the_manifest_names_the_store_without_its_password(stores, exports):
    manifests = {engine: json.loads((exports[engine] / "manifest.json").read_text("utf-8")) for engine in exports}
    assert manifests["sqlite"]["store"] == str(Path(stores.sqlite.location).resolve())
    assert manifests["postgresql"]["store"] == str(stores.postgresql)
    assert ":***@" in manifests["postgresql"]["store"] and PASSWORD not in json.dumps(manifests["postgresql"])
    assert manifests["postgresql"]["rows"] == {"articles": 14, "revisions": 3, "breaking": 12}
    assert (
        manifests["postgresql"]["breaking"]
        == {**manifests["sqlite"]["breaking"]}
        == {**manifests["sqlite"]["breaking"], "flashes": 12, "linked": 1, "edited": 1, "estimated": 1}
    )
    # export_key and documents_key are digests that include the store's name and engine
    naming = ("exported_at", "store", "files", "export_key", "documents_key")
    unnamed = [{k: v for k, v in m.items() if k not in naming} for m in manifests.values()]
    assert unnamed[0] == unnamed[1]


@pytest.mark.parametrize("selection", [
    Selection(sections=("Politics", "videos")),
    Selection(kinds=("article",), since=date(2025, 7, 31)),
    Selection(since=date(2025, 8, 4), until=date(2025, 8, 4)),
], ids=["sections", "kind-since", "one-day"])  # fmt: skip
def test_selections_give_the_same_files_on_both_engines(stores, tmp_path, selection):
    files = {}
    for engine in ("sqlite", "postgresql"):
        request = ExportRequest(
            store=getattr(stores, engine),
            out=tmp_path / engine,
            formats=("jsonl", "csv"),
            selection=selection,
            with_revisions=True,
        )
        export(request)
        files[engine] = {k: v for k, v in _files(request.out).items() if k not in NAMING}
    assert files["sqlite"] == files["postgresql"]
    assert files["sqlite"]["articles.jsonl"] or files["sqlite"].get("breaking.jsonl")


def test_one_snapshot_for_the_whole_export(target):
    """A crawl writing while the export reads: every pass sees the store as it was when it began."""
    with connect(target) as store:
        fill(store)
        with StoreSnapshot(target) as snapshot:
            articles = snapshot.articles(Selection())
            first = next(articles)
            changed = _revised(next(r for r in _records() if r["url"] != first["url"]), 9)
            assert store.upsert(changed, seen_at=T2) == "updated"
            store.write(lambda: store.run("UPDATE breaking_news SET article_url = NULL"))
            assert len([first, *articles]) == 14
            assert all("Update 9" not in r["body"] for r in snapshot.articles(Selection()))
            assert len(list(snapshot.revisions(Selection()))) == 3
            assert snapshot.revisions_by_day(Selection()) == [("2025-08-04", 2), ("2025-08-05", 1)]
            assert snapshot.flash_summary(Selection())["linked"] == 1
        with StoreSnapshot(target) as later:
            assert len(list(later.revisions(Selection()))) == 4
            assert later.flash_summary(Selection())["linked"] == 0


def test_store_urls_and_their_errors_are_one_line(postgres_cluster, tmp_path):
    away = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/mayadeen"
    empty = postgres_cluster.new_database()
    for store, status, message in [
        (away, 1, "cannot read the store postgresql://postgres:***@127.0.0.1:"),
        (empty, 1, f"cannot read the store {empty}: no store at {empty}"),
        ("mysql://db.internal/mayadeen", 2, "--store takes sqlite:///"),
        ("postgresql://127.0.0.1:5432", 2, "needs a host and a database name"),
    ]:
        proc = export_in_process(tmp_path / "out", "--store", store, check=False)  # stderr: its log
        assert proc.returncode == status, proc.log
        assert len(proc.log.strip().splitlines()) == 1 and message in proc.log, proc.log
        assert PASSWORD not in proc.log and not (tmp_path / "out").exists()
