"""``scrapy search "query"``: full-text search of the store from the terminal, on either engine.

The query language is ``mayadeen.store.search``'s, the one Datasette's search box also takes
(``mayadeen.store.datasette_search``): words (all must match), ``"a phrase"``, ``OR``, ``-word``.
The store: ``--store``, else the crawl's, as ``scrapy export``. Prints only its answer (hits, best
first; ``--json``: a JSON array); exits 0 (no hit is an answer too), 2 on bad options, 1 when the
store cannot be read.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict

from scrapy.commands import ScrapyCommand

from mayadeen.commands.export import (
    EXIT_FAILED,
    EXIT_USAGE,
    BadOption,
    _day,
    _list,
    _store,
    add_days_options,
    add_store_option,
)
from mayadeen.store.engines import connect, store_errors
from mayadeen.store.read import Selection
from mayadeen.store.search import DEFAULT_LIMIT, search, search_flashes


def parse_selection(opts: argparse.Namespace) -> Selection:
    since, until = _day("--since", opts.since), _day("--until", opts.until)
    if since and until and since > until:
        raise BadOption(f"--since {since} is after --until {until}")
    if opts.section is not None and not _list(opts.section):
        raise BadOption("--section is empty")
    if opts.flashes and opts.section:
        raise BadOption("flashes have no section: --section does not go with --flashes")
    if opts.limit < 1:
        raise BadOption(f"--limit must be 1 or more, not {opts.limit}")
    return Selection(since=since, until=until, sections=_list(opts.section))


#: A passage of the tags column, which the index holds as its JSON text: ``["Hajj","[Mecca]"]``.
_TAGS_PASSAGE = re.compile(r'(…?)\[?"(.*)"\]?(…?)')


def _passage(snippet: str) -> str:
    """A snippet as one line of text: a passage of the tags is shown as ``tags: Hajj, [Mecca]``."""
    text = " ".join(snippet.split())
    found = _TAGS_PASSAGE.fullmatch(text)
    if found and (text.startswith('["') or '","' in text):
        before, tags, after = found.groups()
        names = ", ".join(tags.split('","'))
        return f"tags: {before}{names}{after}"
    return text


def _text(hits: list, flashes: bool) -> str:
    if not hits:
        return "No match."
    lines = []
    for hit in hits:
        if flashes:
            lines += [f"{hit.time}  {_passage(hit.snippet)}", *([f"  {hit.article_url}"] if hit.article_url else [])]
        else:
            lines += [
                f"{hit.date_published or '(no date)'}  {hit.headline or '(no headline)'}",
                f"  {hit.url}",
                f"  {_passage(hit.snippet)}",
            ]
    return "\n".join(lines)


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return '[options] "QUERY"'

    def short_desc(self) -> str:
        return "Search the stored items (or breaking-news flashes) by their words"

    def long_desc(self) -> str:
        return (
            self.short_desc() + ". QUERY is web-search style, as in Datasette's search box: words (every one "
            'must match), "a phrase", OR between alternatives, -word to exclude. Best matches first. Exits 2 '
            "on bad options, 1 when the store cannot be read, else 0."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group(title="Search options")
        group.add_argument(
            "--limit", type=int, default=DEFAULT_LIMIT, metavar="N", help=f"at most N hits (default: {DEFAULT_LIMIT})"
        )
        add_days_options(group)
        group.add_argument(
            "--section", metavar="LIST", help="only these sections or section groups, e.g. Politics,Videos"
        )
        group.add_argument("--flashes", action="store_true", help="search the breaking-news flashes instead")
        group.add_argument("--json", action="store_true", help="print the hits as a JSON array")
        add_store_option(group)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        try:
            if len(args) != 1:
                raise BadOption('give one query, quoted: scrapy search "QUERY"')
            selection = parse_selection(opts)
            target = _store(opts.store, self.settings)
        except BadOption as exc:
            print(f"scrapy search: error: {exc}", file=sys.stderr)
            self.exitcode = EXIT_USAGE
            return
        find = search_flashes if opts.flashes else search
        try:
            with connect(target, readonly=True) as store:
                hits = find(store, args[0], opts.limit, selection)
        except store_errors(target) as exc:
            print(f"scrapy search: cannot read the store {target}: {' '.join(str(exc).split())}", file=sys.stderr)
            self.exitcode = EXIT_FAILED
            return
        if opts.json:
            print(json.dumps([asdict(hit) for hit in hits], ensure_ascii=False, indent=1))
        else:
            print(_text(hits, opts.flashes))
