"""The store is a library under the crawl (issue 20, item 7): its modules import no Scrapy or Twisted
(so none of the spider-side code built on them), and they import each other without a cycle."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

STORE = Path(__file__).resolve().parent.parent / "mayadeen" / "store"
CRAWL_SIDE = ("scrapy", "twisted", "scrapy_redis", "scrapy_playwright", "playwright")


def test_the_store_loads_no_crawl_side_code():
    # A fresh interpreter: what importing every store module brings in, and nothing the test run loaded.
    code = f"""
import importlib, json, pkgutil, sys
import mayadeen.store as store
for module in pkgutil.iter_modules(store.__path__):
    importlib.import_module("mayadeen.store." + module.name)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {CRAWL_SIDE!r})))
"""
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert loaded == []


def store_imports() -> dict[str, set[str]]:
    """Each store module -> the store modules it imports (anywhere in it, a function's imports too)."""
    modules = {path.stem for path in STORE.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in STORE.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = "mayadeen.store" + ("." + base if base else "")
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found |= {n.split(".")[2] for n in names if n.startswith("mayadeen.store.") and n.split(".")[2] in modules}
        graph[path.stem] = found - {path.stem}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (its modules in order), or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        for other in sorted(graph.get(module, ())):
            if other in path:
                return path[path.index(other) :] + [other]
            if other not in done:
                found = visit(other, path + [other])
                if found:
                    return found
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module, [module])
        if found:
            return found
    return None


def test_the_cycle_check_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_the_store_modules_import_each_other_without_a_cycle():
    assert cycle(store_imports()) is None
