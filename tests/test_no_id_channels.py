"""What travels with an item travels in it (issue 20, item 6): no module of ``mayadeen/`` keys anything by
``id()``, which a recycled object reuses (a stale WARC capture attached to another item) and which
nothing frees when the item is dropped."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mayadeen"


def id_calls(source: str) -> list[int]:
    """The lines of ``source`` that call the builtin ``id``."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "id"
    ]


def test_the_check_finds_an_id_call():
    assert id_calls("captures = {}\ncaptures[id(item)] = capture\nitem.id(2)\n") == [2]


def test_mayadeen_keys_nothing_by_id():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in id_calls(path.read_text("utf-8"))
    ]
    assert not found
