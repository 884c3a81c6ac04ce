"""The settings and CLI references of the docs, generated from the code so that they cannot drift.

``settings_markdown()`` tables what ``mayadeen.setting_docs`` reads of ``mayadeen/settings.py``:
every setting it assigns, its default as written, and the comment lines right above it.
``cli_markdown()`` builds each of the project's commands' argument parsers the way ``scrapy`` does
and prints their ``-h``. The MkDocs hook
(``docs/hooks.py``) puts them where a page says ``<!-- reference:settings -->`` or
``<!-- reference:cli -->``; ``tests/test_docs_reference.py`` fails when a setting or an option has no
words.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # MkDocs loads its hooks with a sys.path of its own
    sys.path.insert(0, str(ROOT))

from mayadeen.setting_docs import settings_reference  # noqa: E402

SCRAPY_DOC = "Scrapy's setting, with the project's value (see Scrapy's settings documentation)"
LONG_DEFAULT = 70  # characters; longer defaults (the component tables) point at their module


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
        default = f"`{_cell(s.default)}`" if len(s.default) <= LONG_DEFAULT else f"see `{s.source}`"
        rows.append(f"| `{s.name}` | {default} | {_cell(s.doc) or SCRAPY_DOC} |")
    return "\n".join(rows).strip() + "\n"


def commands() -> dict[str, object]:
    """The project's ``scrapy`` commands by name, each an instance with its settings attached."""
    from scrapy.utils.project import get_project_settings

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
