"""MkDocs hook: the generated references (``docs/reference.py``) replace their markers in the pages."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference  # noqa: E402  (docs/ is not a package)

MARKERS = {"<!-- reference:settings -->": reference.settings_markdown, "<!-- reference:cli -->": reference.cli_markdown}


def on_page_markdown(markdown: str, **kwargs) -> str:
    for marker, make in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
