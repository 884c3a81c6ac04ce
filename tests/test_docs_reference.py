"""The generated references of the docs (docs/reference.py) cover every setting and every option."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

import reference  # noqa: E402  (docs/ is not a package)

# Set by the project's add-ons for its own components, never by a user.
INTERNAL = {"MAYADEEN_BUDGET_CONCURRENCY", "MAYADEEN_BUDGET_DELAY", "MAYADEEN_MIRROR_HANDLERS"}


def settings_read_by_the_code() -> set[str]:
    names = set()
    for path in (ROOT / "mayadeen").rglob("*.py"):
        names.update(re.findall(r"[\"'](MAYADEEN_[A-Z0-9_]+)[\"']", path.read_text("utf-8")))
    return names - INTERNAL


def test_every_setting_the_code_reads_is_in_the_reference_with_words():
    documented = {s.name: s.doc for s in reference.settings_reference()}
    read = settings_read_by_the_code()
    assert len(read) > 30  # the scan found the settings
    assert sorted(read - documented.keys()) == []
    assert sorted(name for name in read if not documented[name].strip()) == []


def test_the_settings_page_shows_a_default_and_its_comment():
    page = reference.settings_markdown()
    assert (
        '| `MAYADEEN_SQLITE_PATH` | `"data/mayadeen.sqlite"` | The SQLite store; an empty string turns it off. |'
        in page.splitlines()
    )
    # A setting under a group comment gets the group's words.
    row = next(line for line in page.splitlines() if line.startswith("| `MAYADEEN_RETRY_BACKOFF_MAX`"))
    assert "MAYADEEN_RETRY_BACKOFF_BASE * 2**(n-1)" in row


def test_every_setting_of_the_settings_module_is_in_the_reference_whichever_module_assigns_it():
    """settings.py imports the component tables from mayadeen/components.py: none is lost to the docs."""
    from mayadeen import settings

    documented = {s.name: s for s in reference.settings_reference()}
    assert sorted({name for name in vars(settings) if name.isupper()} - documented.keys()) == []
    assert documented["DOWNLOADER_MIDDLEWARES"].source == "mayadeen/components.py"
    assert "see `mayadeen/components.py`" in reference.settings_markdown()


def test_a_setting_without_a_comment_is_found(tmp_path):
    settings = tmp_path / "settings.py"
    settings.write_text("# --- ours ---\n# Documented.\nMAYADEEN_A = 1\n\nMAYADEEN_B = 2\n", "utf-8")
    docs = {s.name: s.doc for s in reference.settings_reference(settings)}
    assert docs == {"MAYADEEN_A": "Documented.", "MAYADEEN_B": ""}


COMMANDS = reference.commands()


@pytest.fixture(scope="module")
def cli_page() -> str:
    return reference.cli_markdown()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_of_every_command_has_help_and_is_in_the_cli_page(name, cli_page):
    command = COMMANDS[name]
    parser = reference.parser_for(name, command)
    page = cli_page
    assert f"## `scrapy {name}`" in page
    own = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert command.short_desc().strip()
    for action in own:
        assert action.help and action.help.strip(), f"scrapy {name} {action.option_strings}: no help"
        assert action.option_strings[-1] in page


def test_the_project_commands_are_all_there():
    assert {"crawl", "export", "mirror", "reextract"} <= set(COMMANDS)
