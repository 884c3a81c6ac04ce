"""The words of each setting, read from ``mayadeen/settings.py`` itself: its default as written and
the comment lines right above it. One source for the docs' settings reference (``docs/reference.py``)
and for what ``scrapy crawl -h`` says of a setting, so neither can drift from the code.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

SETTINGS = Path(__file__).resolve().parent / "settings.py"
PROJECT = re.compile(r"^MAYADEEN_")
SECTION = re.compile(r"^#\s*---\s*(.*?)\s*-*\s*$")


@dataclass
class Setting:
    name: str
    default: str  # as written in settings.py
    doc: str  # the comment lines above it, joined
    section: str  # the "# --- name ---" heading it stands under
    source: str = "mayadeen/settings.py"  # the module that assigns it


def settings_reference(path: Path = SETTINGS) -> list[Setting]:
    """Every top-level assignment of settings.py with the comment block right above it, and those of
    the project's modules it imports settings from (``from mayadeen.components import ADDONS``)."""
    source = path.read_text("utf-8")
    lines = source.splitlines(keepends=True)
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and tok.line.lstrip().startswith("#"):
            comments[tok.start[0]] = tok.string
    out, section = [], ""
    lines_done, previous_end = 0, -1
    for node in ast.parse(source).body:
        for lineno in range(lines_done + 1, node.lineno):
            match = SECTION.match(comments.get(lineno, ""))
            if match:
                section = match.group(1)
        lines_done = node.end_lineno
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mayadeen."):
            names = {alias.name for alias in node.names}
            module = path.parent.parent.joinpath(*node.module.split(".")).with_suffix(".py")
            out += [s for s in settings_reference(module) if s.name in names]
            continue
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name) or not target.id.isupper():
            continue
        doc, line = [], node.lineno - 1
        while line in comments and not SECTION.match(comments[line]):
            doc.insert(0, comments[line].lstrip("#").strip())
            line -= 1
        if (
            not doc
            and out
            and previous_end == node.lineno - 1
            and PROJECT.match(target.id)
            and PROJECT.match(out[-1].name)
        ):
            doc = [out[-1].doc]  # a setting of ours right below another shares its comment (a group)
        where = f"{path.parent.name}/{path.name}"
        out.append(Setting(target.id, _segment(lines, node.value), " ".join(doc), section, where))
        previous_end = node.end_lineno
    return out


def _segment(lines: list[str], node: ast.expr) -> str:
    """``ast.get_source_segment`` over lines split once: it splits the whole source again at each call
    (a quarter of a second for settings.py, paid by every ``scrapy crawl`` building its ``-h``)."""
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first].encode()[node.col_offset : node.end_col_offset].decode()
    head = lines[first].encode()[node.col_offset :].decode()
    tail = lines[last].encode()[: node.end_col_offset].decode()
    return "".join([head, *lines[first + 1 : last], tail])


def setting_help(setting: Setting) -> str:
    """``-s MAYADEEN_REDIS_LEASE_TTL (default 30.0): Seconds a worker's leases …``, for a ``-h``."""
    default = {'""': "empty", "None": "none"}.get(setting.default, setting.default)
    return f"-s {setting.name} (default {default}): {setting.doc.rstrip('.')}"
