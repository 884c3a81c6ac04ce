"""The settings and CLI references of the docs, generated from the code so that they cannot drift.

``settings_markdown()`` reads ``mayadeen/settings.py``: every setting it assigns, its default as
written, and the comment lines right above it. ``cli_markdown()`` builds each of the project's
commands' argument parsers the way ``scrapy`` does and prints their ``-h``. The MkDocs hook
(``docs/hooks.py``) puts them where a page says ``<!-- reference:settings -->`` or
``<!-- reference:cli -->``; ``tests/test_docs_reference.py`` fails when a setting or an option has no
words.
"""

from __future__ import annotations

import ast
import importlib
import io
import pkgutil
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "mayadeen" / "settings.py"
PROJECT = re.compile(r"^MAYADEEN_")
SECTION = re.compile(r"^#\s*---\s*(.*?)\s*-*\s*$")
SCRAPY_DOC = "Scrapy's setting, with the project's value (see Scrapy's settings documentation)"
LONG_DEFAULT = 70  # characters; longer defaults (the component tables) point at settings.py


@dataclass
class Setting:
    name: str
    default: str  # as written in settings.py
    doc: str  # the comment lines above it, joined
    section: str  # the "# --- name ---" heading it stands under


def settings_reference(path: Path = SETTINGS) -> list[Setting]:
    """Every top-level assignment of settings.py with the comment block right above it."""
    source = path.read_text("utf-8")
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
        out.append(Setting(target.id, ast.get_source_segment(source, node.value), " ".join(doc), section))
        previous_end = node.end_lineno
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_markdown() -> str:
    rows, section = [], None
    for s in settings_reference():
        if s.section != section:
            section = s.section
            rows += [
                "",
                f"### {section or 'Project'}",
                "",
                "| setting | default | what it does |",
                "| --- | --- | --- |",
            ]
        default = f"`{_cell(s.default)}`" if len(s.default) <= LONG_DEFAULT else "see `mayadeen/settings.py`"
        rows.append(f"| `{s.name}` | {default} | {_cell(s.doc) or SCRAPY_DOC} |")
    return "\n".join(rows).strip() + "\n"


def commands() -> dict[str, object]:
    """The project's ``scrapy`` commands by name, each an instance with its settings attached."""
    from scrapy.utils.project import get_project_settings

    if str(ROOT) not in sys.path:  # MkDocs loads its hooks with a sys.path of its own
        sys.path.insert(0, str(ROOT))
    import mayadeen.commands as package

    out = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        command = module.Command()
        settings = get_project_settings()
        settings.setdict(command.default_settings, priority="command")
        command.settings = settings
        out[info.name] = command
    return out


def parser_for(name: str, command):
    """The argument parser ``scrapy NAME`` builds (as ``scrapy.cmdline.execute`` does)."""
    from scrapy.cmdline import ScrapyArgumentParser
    from scrapy.commands import ScrapyHelpFormatter

    parser = ScrapyArgumentParser(
        formatter_class=ScrapyHelpFormatter,
        usage=f"scrapy {name} {command.syntax()}",
        conflict_handler="resolve",
        description=command.long_desc(),
    )
    command.add_options(parser)
    return parser


def cli_markdown() -> str:
    parts = []
    for name, command in commands().items():
        help_text = parser_for(name, command).format_help()
        parts += [f"## `scrapy {name}`", "", command.short_desc(), "", "```text", help_text.rstrip(), "```", ""]
    return "\n".join(parts)
