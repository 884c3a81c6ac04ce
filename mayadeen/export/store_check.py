"""An export checked against the store before anything is written: something to export, filters that
name what the store holds.

* A store that holds no item and no flash is not a dataset: ``NothingToExport`` (exit 1, one line),
  where an export would have written "0 items" and looked like one.
* ``--section`` must name a section or section group the store holds (as the filter does, in any
  letter case); ``UnknownSection`` lists those it holds, the closest first (exit 2, one line).
  A typo (``Politcs``) used to export nothing, exit 0. ``--kind`` takes a closed list the command
  checks itself; a kind the store holds no item of is an empty export, a fact.
"""

from __future__ import annotations

import difflib

from mayadeen.export.run import ExportError, ExportRequest
from mayadeen.store.engines import store_errors
from mayadeen.store.read import StoreSnapshot

#: How many of the store's sections a message names.
LISTED = 12


class NothingToExport(ExportError):
    """The store holds no item and no flash."""


class UnknownSection(ValueError):
    """A ``--section`` value that is no section or section group of the store (the message is one line)."""


def check_request(request: ExportRequest) -> None:
    """Raises NothingToExport, UnknownSection, or ExportError when the store cannot be read."""
    try:
        with StoreSnapshot(request.store) as snapshot:
            store = snapshot.store
            items = snapshot.has_articles and store.row("SELECT EXISTS (SELECT 1 FROM articles) AS held")["held"]
            flashes = snapshot.has_flashes and store.row("SELECT EXISTS (SELECT 1 FROM breaking_news) AS held")["held"]
            if not items and not flashes:
                raise NothingToExport(f"the store {request.store} holds no items and no flashes: nothing to export")
            wanted = request.selection.sections
            held = _sections(store) if wanted and items else []
    except store_errors(request.store) as exc:
        raise ExportError(f"cannot read the store {request.store}: {' '.join(str(exc).split())}") from exc
    known = {name.lower() for name in held}
    for section in wanted:
        if section.lower() not in known:
            raise UnknownSection(
                f"--section {section}: the store holds no section or section group of that name;"
                f" it holds {_listed(section, held)}"
            )


def _sections(store) -> list[str]:
    """Every section and section group the store's items have (one spelling of each, in any case)."""
    names: dict[str, str] = {}
    for row in store.rows("SELECT DISTINCT section, section_group FROM articles"):
        for name in (row["section"], row["section_group"]):
            if name:
                names.setdefault(name.lower(), name)
    return sorted(names.values())


def _listed(given: str, held: list[str]) -> str:
    if not held:
        return "none (only breaking-news flashes)"
    closest = sorted(held, key=lambda n: (-difflib.SequenceMatcher(None, given.lower(), n.lower()).ratio(), n))
    more = len(closest) - LISTED
    return ", ".join(closest[:LISTED]) + (f" and {more} more" if more > 0 else "") + " (closest first)"
