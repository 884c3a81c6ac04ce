"""``croissant.json``: the export described in Croissant 1.1 (MLCommons), which Hugging Face serves and
``mlcroissant`` loads.

Every file the export writes is a ``FileObject`` with its sha256 (but the manifest, which lists this
file's own digest, and this file). Each dataset written as JSON Lines is a ``RecordSet`` read from
that file, a field per record key, its ``dataType`` derived from the dataset's JSON Schema: a string
with ``format: date-time`` is ``sc:DateTime``, with ``format: uri`` ``sc:URL``, other strings
``sc:Text``; integers ``sc:Integer``, booleans ``sc:Boolean``; an array is ``isArray`` of its items'
type; an object has a ``subField`` per property (read with a ``jsonPath`` transform).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from mayadeen.export.datasets import Dataset
from mayadeen.export.writers import OutputFile
from mayadeen.record import resolve

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
#: The context of Croissant 1.1's example datasets.
CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "arrayShape": "cr:arrayShape", "citeAs": "cr:citeAs",
    "column": "cr:column", "conformsTo": "dct:conformsTo", "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"}, "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/", "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"}, "extract": "cr:extract", "field": "cr:field",
    "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject", "fileSet": "cr:fileSet", "format": "cr:format",
    "includes": "cr:includes", "isArray": "cr:isArray", "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath",
    "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path", "recordSet": "cr:recordSet",
    "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated", "replace": "cr:replace",
    "samplingRate": "cr:samplingRate", "sc": "https://schema.org/", "separator": "cr:separator", "source": "cr:source",
    "subField": "cr:subField", "transform": "cr:transform",
}  # fmt: skip
ENCODINGS = {
    ".jsonl": "application/jsonlines",
    ".csv": "text/csv",
    ".parquet": "application/x-parquet",
    ".md": "text/markdown",
    ".html": "text/html",
    ".json": "application/json",
}
_TYPES = {"integer": "sc:Integer", "number": "sc:Float", "boolean": "sc:Boolean"}
_FORMATS = {"date-time": "sc:DateTime", "uri": "sc:URL"}


def data_type(node: dict[str, Any]) -> str:
    """The Croissant ``dataType`` of a resolved JSON Schema scalar."""
    kinds = node.get("type", "string")
    kind = next(k for k in kinds if k != "null") if isinstance(kinds, list) else kinds
    if kind == "string":
        return _FORMATS.get(node.get("format", ""), "sc:Text")
    return _TYPES[kind]


def _field(
    record_set: str, name: str, node: dict[str, Any], root: dict[str, Any], source: dict[str, Any], path: str = ""
) -> dict[str, Any]:
    """The field of property ``name``; ``path``: its ``jsonPath`` inside its parent's column."""
    field_id = f"{record_set}/{name}"
    node = resolve(node, root)
    out: dict[str, Any] = {"@type": "cr:Field", "@id": field_id, "name": name.rsplit("/", 1)[-1]}
    if node.get("description"):
        out["description"] = node["description"]
    out["source"] = {**source, **({"transform": {"jsonPath": path}} if path else {})}
    if node.get("type") == "array":
        out.update(isArray=True, arrayShape="-1")
        node = resolve(node["items"], root)
    if node.get("type") == "object":
        del out["source"]
        out["subField"] = [
            _field(record_set, f"{name}/{key}", child, root, source, key) for key, child in node["properties"].items()
        ]
    else:
        out["dataType"] = data_type(node)
    return out


def record_set(dataset: Dataset, jsonl: str) -> dict[str, Any]:
    """The RecordSet of ``dataset`` read from its JSON Lines file ``jsonl``."""
    schema = dataset.schema()
    fields = [
        _field(dataset.name, key, node, schema, {"fileObject": {"@id": jsonl}, "extract": {"column": key}})
        for key, node in schema["properties"].items()
    ]
    return {
        "@type": "cr:RecordSet",
        "@id": dataset.name,
        "name": dataset.name,
        "description": schema.get("title", dataset.name),
        "field": fields,
    }


def file_object(file: OutputFile) -> dict[str, Any]:
    suffix = PurePosixPath(file.path).suffix
    return {
        "@type": "cr:FileObject",
        "@id": file.path,
        "name": file.path,
        "contentUrl": file.path,
        "contentSize": f"{file.bytes} B",
        "encodingFormat": ENCODINGS.get(suffix, "application/octet-stream"),
        "sha256": file.sha256,
    }


def croissant(*, datasets: list[Dataset], files: list[OutputFile], about: dict[str, Any]) -> dict[str, Any]:
    """The JSON-LD document; ``about``: the dataset's schema.org properties (name, description,
    license, version, datePublished, citeAs, …)."""
    names = {f.path for f in files}
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        **about,
        "distribution": [file_object(f) for f in sorted(files, key=lambda f: f.path)],
        "recordSet": [record_set(d, f"{d.name}.jsonl") for d in datasets if f"{d.name}.jsonl" in names],
    }
