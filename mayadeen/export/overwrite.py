"""What an export may write over in its directory: nothing but the files of an earlier export.

``--overwrite`` is trusted only as far as DIR's ``manifest.json`` goes: the earlier export named its
files there, with their sizes and digests. A directory without one is someone else's (a repository,
a home directory), so it is refused; a named file that has changed since (an edited card, another
file put there) is refused too; nothing is removed that the manifest does not name, and no path is
followed through a symbolic link out of DIR.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from mayadeen.export.writers import STAGING_PREFIX, describe

MANIFEST = "manifest.json"


class RefusedDirectory(Exception):
    """DIR may not be written (over); the message is one line naming the problem."""


def check_not_linked(out: Path, relatives: list[str] | tuple[str, ...] = ()) -> None:
    """RefusedDirectory when DIR, or a directory between DIR and one of ``relatives``, is a symbolic link."""
    if out.is_symlink():
        raise RefusedDirectory(f"{out} is a symbolic link (to {out.resolve()}); give the directory itself")
    seen: set[PurePosixPath] = set()
    for relative in relatives:
        for parent in PurePosixPath(relative).parents:
            if parent != PurePosixPath(".") and parent not in seen:
                seen.add(parent)
                if (out / parent).is_symlink():
                    raise RefusedDirectory(f"{out / parent} is a symbolic link; an export does not write through one")


def _as_written(out: Path, relative: str, entry: dict[str, Any]) -> bool:
    """Whether the file is still the one a manifest entry describes (a file, same size and sha256)."""
    path = out / relative
    if path.is_symlink() or not path.is_file():
        return False
    found = describe(out, relative, None)
    return (found.bytes, found.sha256) == (entry.get("bytes"), entry.get("sha256"))


def read_manifest(out: Path, record_schema: str) -> dict[str, Any]:
    """DIR's manifest; RefusedDirectory when there is none of this tool's."""
    path = out / MANIFEST
    if path.is_symlink() or not path.is_file():
        raise RefusedDirectory(
            f"{out} holds no manifest.json of an earlier export; --overwrite replaces only an export's files"
        )
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise RefusedDirectory(f"{path} cannot be read as an export's manifest; --overwrite refused") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if (
        not isinstance(files, list)
        or not all(isinstance(f, dict) for f in files)
        or manifest.get("record_schema") != record_schema
    ):
        raise RefusedDirectory(f"{path} is not the manifest of an export of this tool; --overwrite refused")
    return manifest


def _kept_as_written(out: Path, relative: str, entry: dict[str, Any]) -> bool:
    """Whether a file the new export keeps is the one the manifest describes, without reading it:
    a file of that size, not modified after the manifest was written (the last file of an export)."""
    path = out / relative
    if path.is_symlink() or not path.is_file():
        return False
    found = path.stat()
    return found.st_size == entry.get("bytes") and found.st_mtime_ns <= (out / MANIFEST).stat().st_mtime_ns


def earlier_export(out: Path, owned: set[str], record_schema: str, kept: frozenset[str] = frozenset()) -> list[str]:
    """The files (paths inside DIR) of the earlier export in DIR, each checked to be as that export
    left it; an empty list when DIR is missing or empty. ``owned``: the top-level names an export
    writes; ``record_schema``: the ``$id`` its manifests carry; ``kept``: files the new export keeps
    as they are (checked by size and time, not read: a kept partition is not rewritten)."""
    check_not_linked(out)
    if not holds_anything(out):
        return []
    entries = read_manifest(out, record_schema)["files"]
    earlier = []
    for entry in entries:
        relative = entry.get("path")
        parts = PurePosixPath(relative).parts if isinstance(relative, str) else ()
        if not parts or parts[0] not in owned or ".." in parts or PurePosixPath(relative).is_absolute():
            raise RefusedDirectory(
                f"{out / MANIFEST} names {relative!r}, not a file an export writes; --overwrite refused"
            )
        earlier.append(relative)
    check_not_linked(out, earlier)
    for entry, relative in zip(entries, earlier, strict=True):
        path = out / relative
        as_written = _kept_as_written if relative in kept else _as_written
        if (path.exists() or path.is_symlink()) and not as_written(out, relative, entry):  # gone: nothing to do
            raise RefusedDirectory(
                f"{path} is not the file the earlier export wrote (changed since); move it away "
                "or choose another directory"
            )
    # A file under a name an export writes that the earlier one did not write is someone else's.
    for name in sorted(owned - {MANIFEST} - set(earlier)):
        if (out / name).is_file() or (out / name).is_symlink():
            raise RefusedDirectory(
                f"{out / name} was not written by the earlier export; move it away or choose another directory"
            )
    return earlier


def holds_anything(out: Path) -> bool:
    """Whether DIR exists and holds something besides the staging directories of exports."""
    return out.is_dir() and any(not p.name.startswith(STAGING_PREFIX) for p in out.iterdir())
