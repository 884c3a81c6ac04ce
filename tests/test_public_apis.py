"""Public Scrapy, Twisted, scrapy-redis and Playwright APIs only (``mayadeen.scrapy_contact`` aside).

The rule, over every module of ``mayadeen/``: a private name (one leading underscore, not a dunder)
is used only by the module that defines it. So it flags

* ``x._name`` where ``x`` is not ``self`` or ``cls`` and the module itself defines no ``_name`` (a
  ``def``, a ``class``, or an assignment to ``_name`` or ``self._name``): a library object's
  private part, such as ``crawler.engine._slot`` or ``response._cached``; likewise
  ``getattr(x, "_name")``;
* ``from scrapy.x import _name`` and private modules (``scrapy.x._y``) of those libraries;
* a private method of a subclass of one of their classes that the class has too: an override of a
  private method (``RetryMiddleware._retry``), or a name that shadows one;
* the downloader's own state, public-looking but undocumented: ``downloader.slots`` (a slot's
  ``active``, ``lastseen``, ``jitter``, ``delay`` hang off it) and ``downloader.active``.

Allowed: ``mayadeen/scrapy_contact.py``, the one adapter (its behaviour is pinned by
``tests/test_scrapy_contact.py``); namedtuple's documented ``_replace``, ``_fields``, ``_asdict``,
``_make``; lxml's ``_Element`` (the element type its documentation names).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mayadeen"
ADAPTER = PACKAGE / "scrapy_contact.py"
LIBRARIES = ("scrapy", "twisted", "scrapy_redis", "playwright", "scrapy_playwright")
#: Documented names that look private: namedtuple's methods, lxml's _Element, os._exit (the process
#: ended at once, as the distributed heartbeat's backstop needs).
DOCUMENTED_PRIVATE_LOOKING = {"_replace", "_fields", "_asdict", "_make", "_Element", "_exit"}
DOWNLOADER_STATE = {"slots", "active"}


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def own_private_names(tree: ast.AST) -> set[str]:
    """The private names a module defines: functions, classes, names and ``self.``/``cls.`` attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                names.add(node.attr)
    return {name for name in names if private(name)}


def is_downloader(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "downloader") or (
        isinstance(node, ast.Attribute) and node.attr == "downloader"
    )


def library_classes(tree: ast.AST) -> dict[str, type]:
    """The classes a module imports by name from those libraries: name -> class."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in LIBRARIES:
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if isinstance(value, type):
                    found[alias.asname or alias.name] = value
    return found


def overrides(tree: ast.AST) -> list[tuple[int, str]]:
    """Private methods of subclasses of library classes that the library class has too."""
    classes = library_classes(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = [classes[b.id] for b in node.bases if isinstance(b, ast.Name) and b.id in classes]
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and private(item.name):
                if any(hasattr(base, item.name) for base in bases):
                    found.append((item.lineno, f"{node.name}.{item.name} overrides a private method"))
        # ``self._name`` inherited from the library class: its private part, reached through ``self``
        defined = {item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for sub in ast.walk(node):
            if (
                isinstance(sub, ast.Attribute)
                and isinstance(sub.value, ast.Name)
                and sub.value.id == "self"
                and private(sub.attr)
                and sub.attr not in defined
                and any(hasattr(base, sub.attr) for base in bases)
            ):
                found.append((sub.lineno, f"{node.name}: {ast.unparse(sub)} is the library class's private part"))
    return found


def offences(source: str) -> list[tuple[int, str]]:
    """(line, code) of each use of a private part of another module's objects in ``source``."""
    tree = ast.parse(source)
    own = own_private_names(tree) | DOCUMENTED_PRIVATE_LOOKING
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            mine = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if (private(node.attr) and not mine and node.attr not in own) or (
                node.attr in DOWNLOADER_STATE and is_downloader(node.value)
            ):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and private(name.value):
                if name.value not in own:
                    found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            for module in modules:
                parts = module.split(".")
                if parts[0] in LIBRARIES and (any(map(private, parts)) or any(map(private, names))):
                    found.append((node.lineno, ast.unparse(node)))
    return sorted(found + overrides(tree))


def test_the_rule_catches_private_parts_of_library_objects():
    source = """
from scrapy.utils.misc import _load_objects
from twisted.internet._sslverify import ClientTLSOptions
import scrapy.core._private
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.commands.crawl import Command
class Retry(RetryMiddleware):
    def _retry(self, request, reason):
        pass
    def _mine(self):
        pass
    def process_response(self, request, response):
        return self._mine(), self._retry(request, "x")
class Crawl(Command):
    def run(self, args, opts):
        return self._create_crawler(args[0])
class Thing:
    def __init__(self, crawler):
        self._mine = crawler.engine._slot
    def go(self, response, engine, other):
        other._mine, response._cached, engine.downloader.slots, engine.downloader.active
        getattr(response, "_cached_benc")
        return self._mine, self.timer.active(), other._asdict()
"""
    assert sorted(code for _, code in offences(source)) == sorted(
        [
            "from scrapy.utils.misc import _load_objects",
            "from twisted.internet._sslverify import ClientTLSOptions",
            "import scrapy.core._private",
            "crawler.engine._slot",
            "response._cached",
            "engine.downloader.slots",
            "engine.downloader.active",
            "getattr(response, '_cached_benc')",
            "Retry._retry overrides a private method",
            "Crawl: self._create_crawler is the library class's private part",
        ]
    )


def test_mayadeen_uses_public_apis_only():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {code}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != ADAPTER
        for line, code in offences(path.read_text("utf-8"))
    ]
    assert not found, "private parts of other modules' objects (see mayadeen/scrapy_contact.py):\n" + "\n".join(found)
