"""The bundled fixtures served by the project's site server (``mayadeen.site_server``), for the tests.

``FixtureSite()`` is the folder ``fixtures/``; ``FixtureServer()`` serves it on a free 127.0.0.1 port.
Tests may ``override(path, ...)`` single answers and read ``requests`` to see what the crawler asked for.
"""

from __future__ import annotations

from pathlib import Path

from mayadeen.site_server import Answer, Hit, SiteFolder, SiteServer, write_answer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

__all__ = ["FIXTURES", "Answer", "FixtureServer", "FixtureSite", "Hit", "write_answer"]


class FixtureSite(SiteFolder):
    """The manifest of ``fixtures/`` (or of ``root``), plus per-test overrides."""

    def __init__(self, root: Path = FIXTURES):
        super().__init__(root)


class FixtureServer(SiteServer):
    """``with FixtureServer() as srv: srv.url`` — serves a FixtureSite on a free loopback port."""

    def __init__(self, site: SiteFolder | None = None):
        super().__init__(site or FixtureSite())
