"""One export: a snapshot of the store streamed into every format, then the card, report and manifest.

Everything is written in a staging directory and moved into place at the end, so a failure (an
unreadable store, a full disk) leaves the export directory as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa

from mayadeen.export.card import dataset_card
from mayadeen.export.croissant import croissant
from mayadeen.export.datasets import ARTICLES, BREAKING, DATASETS, FORMATS, Dataset
from mayadeen.export.overwrite import MANIFEST, check_not_linked, earlier_export, holds_anything, read_manifest
from mayadeen.export.parquet import JsonCheck, ParquetWriter
from mayadeen.export.partitions import digests, export_key, kept_partitions
from mayadeen.export.profile import Profile
from mayadeen.export.provenance import CrawlWindow, about, card_sections
from mayadeen.export.report import report_html
from mayadeen.export.writers import (
    CsvWriter,
    JsonLinesWriter,
    OutputFile,
    Staging,
    describe,
    json_lines,
    remove_stale_staging,
)
from mayadeen.record import utc_timestamp
from mayadeen.store.engines import SQLITE, StoreTarget, store_errors
from mayadeen.store.read import Selection, StoreSnapshot

CARD, REPORT, CROISSANT = "README.md", "report.html", "croissant.json"
DOCUMENTS = (CARD, REPORT, CROISSANT)
#: Records handed to the writers at once: each encodes a batch in one go (memory: a few MB).
BATCH_ROWS = 200


class ExportError(Exception):
    """The export could not be made (store, directory, disk); the message is one line for the user."""


@dataclass(frozen=True)
class ExportRequest:
    store: StoreTarget
    out: Path
    formats: tuple[str, ...] = FORMATS
    selection: Selection = field(default_factory=Selection)
    with_revisions: bool = False
    overwrite: bool = False
    #: CSV text cells a spreadsheet would run as a formula get a leading ``'``.
    escape_csv_formulas: bool = True
    #: Over an earlier export: write every Parquet partition again, not only those whose rows changed.
    full: bool = False


@dataclass
class ExportResult:
    files: list[OutputFile]
    profile: Profile
    manifest: dict[str, Any]
    #: ``StoreSnapshot.flash_summary`` of the exported flashes; None when the selection left them out.
    flashes: dict[str, Any] | None = None
    #: Of ``files``, those of the earlier export that this one kept (their rows did not change).
    kept: int = 0


def _output_name(dataset: Dataset, fmt: str) -> str:
    return {"jsonl": f"{dataset.name}.jsonl", "csv": f"{dataset.name}.csv", "parquet": dataset.parquet_dir}[fmt]


def _writer(dataset: Dataset, fmt: str, root: Path, request: ExportRequest, kept: frozenset[str]):
    relative = _output_name(dataset, fmt)
    if fmt == "parquet":
        own = frozenset(k.removeprefix(f"{relative}/") for k in kept if k.startswith(f"{relative}/"))
        return ParquetWriter(root, relative, dataset.schema(), dataset.partition_field, kept=own)
    if fmt == "csv":
        return CsvWriter(root, relative, dataset.columns(), request.escape_csv_formulas, dataset.encoded)
    return JsonLinesWriter(root, relative)


def owned_names() -> set[str]:
    """Every top-level name an export may write (and ``--overwrite`` may replace)."""
    return {_output_name(d, f) for d in DATASETS for f in FORMATS} | {CARD, REPORT, MANIFEST, CROISSANT}


def _check_directory(out: Path, overwrite: bool) -> dict[str, Any] | None:
    """The manifest of the earlier export that ``overwrite`` replaces (None: there is none); its
    files are checked once the new export knows which it keeps (``overwrite.earlier_export``)."""
    check_not_linked(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is not a directory")
    if not overwrite:
        if holds_anything(out):
            raise ExportError(f"{out} is not empty; pass --overwrite to replace an earlier export there")
        return None
    return read_manifest(out, ARTICLES.schema()["$id"]) if holds_anything(out) else None


def _listed(manifest: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in (manifest or {}).get("files", ())}


def _unchanged(request: ExportRequest, earlier: dict[str, Any] | None, key: str, partitions: dict[str, str]) -> bool:
    """Whether the earlier export has the same rows, shaped the same way, and its data files are all there."""
    return bool(
        earlier
        and not request.full
        and earlier.get("export_key") == key
        and earlier.get("partitions") == partitions
        and {"profile", "crawled", "rows"} <= earlier.keys()
        and all((request.out / p).is_file() for p in _listed(earlier) if p not in DOCUMENTS)
    )


def _kept_files(out: Path, earlier: dict[str, Any] | None, kept: set[str]) -> dict[str, dict[str, Any]]:
    """The earlier export's files of the ``kept`` partitions (none of a partition missing a file)."""
    files = {p: f for p, f in _listed(earlier).items() if p.rsplit("/", 1)[0] in kept}
    gone = {p.rsplit("/", 1)[0] for p in files if not (out / p).is_file()}
    return {p: f for p, f in files.items() if p.rsplit("/", 1)[0] not in gone}


def _describe_selection(request: ExportRequest) -> str:
    s = request.selection
    words = []
    if s.since or s.until:
        words.append(f"published {s.since or '…'} to {s.until or '…'} (Beirut days)")
    if s.sections:
        words.append("section " + ", ".join(s.sections))
    if s.kinds:
        words.append("kind " + ", ".join(s.kinds))
    return "; ".join(words) or "every stored item"


def _stream(
    snapshot: StoreSnapshot,
    dataset: Dataset,
    request: ExportRequest,
    root: Path,
    profile: Profile | None,
    crawled: CrawlWindow,
    kept: frozenset[str],
) -> tuple[list[OutputFile], int]:
    writers = [_writer(dataset, fmt, root, request, kept) for fmt in request.formats]
    if dataset.encoded and "parquet" not in request.formats:
        writers.append(JsonCheck(dataset.schema()))
    rows = 0
    records, columns = dataset.rows(snapshot, request.selection), dataset.columns()
    while batch := list(islice(records, BATCH_ROWS)):
        lines = json_lines(batch, columns, dataset.encoded)  # once, for JSON Lines and Parquet
        for writer in writers:
            writer.write(batch, lines)
        if profile is not None:
            for record in batch:
                profile.add(record)
                crawled.add(record)
        rows += len(batch)
    return [f for writer in writers for f in writer.close()], rows


def _documents(
    root: Path,
    request: ExportRequest,
    snapshot: StoreSnapshot,
    datasets: list[Dataset],
    files: list[OutputFile],
    profile: Profile,
    crawled: CrawlWindow,
    facts: dict[str, Any],
) -> list[OutputFile]:
    """The card, the report and croissant.json, written in ``root`` (``files``: the data files;
    ``facts``: the store's revisions by day, runs and flash summary)."""
    by_day, runs, flashes = facts["by_day"], facts["runs"], facts["flashes"]
    selection = _describe_selection(request)
    window = f"{selection}, published {profile.date_range()} (UTC)"
    trust = card_sections(store_engine=snapshot.store.engine, window=window, crawled=crawled, runs=runs)
    documents = {
        CARD: dataset_card(
            datasets=datasets,
            files={f.path: f.rows for f in files},
            profile=profile,
            revisions=sum(n for _, n in by_day),
            runs=runs,
            selection=selection,
            store_engine=snapshot.store.engine,
            store_schema_version=snapshot.schema_version,
            flashes=flashes,
            csv_formulas_escaped=request.escape_csv_formulas,
            trust=trust,
            formats=request.formats,
        ),
        REPORT: report_html(
            profile=profile,
            revisions_by_day=by_day,
            runs=runs,
            title="Al Mayadeen English items: report",
            subtitle=f"{profile.items} items ({selection}), published {profile.date_range()} (UTC).",
        ),
    }
    written = []
    for name, text in documents.items():
        (root / name).write_text(text, encoding="utf-8")
        written.append(describe(root, name, None))
    description = (
        f"{profile.items} items of {selection} from english.almayadeen.net, published "
        f"{profile.date_range()} (UTC), with their full text and metadata; see README.md."
    )
    document = croissant(
        datasets=datasets,
        files=files + written,
        about=about(description=description, crawled=crawled, window=window),
    )
    (root / CROISSANT).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [*written, describe(root, CROISSANT, None)]


def export(request: ExportRequest) -> ExportResult:
    """Write the export described by ``request``; raises ExportError with a one-line reason."""
    earlier_manifest = _check_directory(request.out, request.overwrite)
    remove_stale_staging(request.out)
    try:
        snapshot = StoreSnapshot(request.store)
    except store_errors(request.store) as exc:
        raise ExportError(f"cannot read the store {request.store}: {_reason(exc)}") from exc
    datasets = [d for d in DATASETS if d.wanted(request.selection, request.with_revisions)]
    staging = None
    try:
        with snapshot:
            selection = _describe_selection(request)
            key = export_key(
                schemas=[d.schema()["$id"] for d in datasets],
                selection=selection,
                csv_formulas_escaped=request.escape_csv_formulas,
                store=_store_name(request.store),
                formats=request.formats,
            )
            partitions = {}
            for dataset in datasets:
                partitions.update(digests(dataset.parquet_dir, dataset.versions(snapshot, request.selection)))
            facts = {
                "by_day": snapshot.revisions_by_day(request.selection),
                "runs": snapshot.runs(),
                "flashes": snapshot.flash_summary(request.selection) if BREAKING in datasets else None,
            }
            # What the card, the report and croissant.json are made of besides the rows.
            documents_key = export_key(**facts, engine=snapshot.store.engine, schema=snapshot.schema_version)
            unchanged = _unchanged(request, earlier_manifest, key, partitions)
            same_documents = unchanged and earlier_manifest.get("documents_key") == documents_key
            if unchanged:
                kept_files = {
                    p: f for p, f in _listed(earlier_manifest).items() if same_documents or p not in DOCUMENTS
                }
            else:
                kept = set() if request.full else kept_partitions(earlier_manifest, key, partitions)
                kept_files = _kept_files(request.out, earlier_manifest, kept)
            kept = frozenset(p.rsplit("/", 1)[0] for p in kept_files)
            earlier = [
                p
                for p in earlier_export(request.out, owned_names(), ARTICLES.schema()["$id"], frozenset(kept_files))
                if p not in kept_files
            ] if request.overwrite else []  # fmt: skip
            request.out.mkdir(parents=True, exist_ok=True)
            staging = Staging(request.out)
            files = [OutputFile(f["path"], f["rows"], f["bytes"], f["sha256"]) for f in kept_files.values()]
            if unchanged:  # the same rows as the earlier export: its files and figures stand
                profile = Profile.from_state(earlier_manifest["profile"])
                crawled, rows = CrawlWindow(**earlier_manifest["crawled"]), earlier_manifest["rows"]
            else:
                profile, crawled, rows = Profile(), CrawlWindow(), {}
                for dataset in datasets:
                    written, count = _stream(
                        snapshot,
                        dataset,
                        request,
                        staging.root,
                        profile if dataset is ARTICLES else None,
                        crawled,
                        kept,
                    )
                    files += written
                    rows[dataset.name] = count
            if not same_documents:
                files += _documents(staging.root, request, snapshot, datasets, files, profile, crawled, facts)
            flashes = facts["flashes"]
            manifest = {
                "exported_at": utc_timestamp(),
                "store": _store_name(request.store),
                "store_schema_version": snapshot.schema_version,
                "record_schema": ARTICLES.schema()["$id"],
                "selection": selection,
                "croissant": CROISSANT,
                "items": profile.items,
                "date_published": {"first": profile.first, "last": profile.last},
                **({} if flashes is None else {"breaking": {**flashes, "record_schema": BREAKING.schema()["$id"]}}),
                "rows": rows,
                "files": [f.as_dict() for f in sorted(files, key=lambda f: f.path)],
                "export_key": key,
                "partitions": partitions,
                "documents_key": documents_key,
                "crawled": crawled.state(),
                "profile": profile.state(),
            }
            (staging.root / MANIFEST).write_text(
                json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            check_not_linked(request.out, staging.files())
            staging.commit(earlier, last=MANIFEST)
    except store_errors(request.store) as exc:
        if staging is not None:
            staging.abort()
        raise ExportError(f"export to {request.out} failed: {_reason(exc)}") from exc
    except (json.JSONDecodeError, pa.ArrowInvalid) as exc:  # the writers' checks of the store's JSON
        if staging is not None:
            staging.abort()
        raise ExportError(
            f"export to {request.out} failed: the store holds a record that is not one of this schema"
            f" (edited by hand?): {_reason(exc)}"
        ) from exc
    except BaseException:
        if staging is not None:
            staging.abort()
        raise
    return ExportResult(sorted(files, key=lambda f: f.path), profile, manifest, flashes, len(kept_files))


def _reason(exc: BaseException) -> str:
    """The error in one line (PostgreSQL's messages have several)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return " ".join(str(exc).split()) or type(exc).__name__


def _store_name(target: StoreTarget) -> str:
    """The store in the manifest: the SQLite file's absolute path, or the URL without its password."""
    return str(Path(target.location).resolve()) if target.engine == SQLITE else str(target)
