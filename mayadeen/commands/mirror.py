"""``scrapy mirror [DIR] [--port N]``: serve a captured copy of the site for offline crawls.

DIR (default: the bundled ``fixtures/``) is laid out like the bundled pages: ``www/`` and
``manifest.json`` (``mayadeen.site_server``). Crawl it with ``-a base_url=http://127.0.0.1:PORT``;
records keep their public URLs. Runs until interrupted; exits 2 when DIR is not such a folder or the
port cannot be bound.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from scrapy.commands import ScrapyCommand

from mayadeen.site_server import SiteFolder, SiteServer

EXIT_USAGE = 2
BUNDLED = Path(__file__).resolve().parent.parent.parent / "fixtures"


class Command(ScrapyCommand):
    requires_project = False
    requires_crawler_process = False
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[options] [DIR]"

    def short_desc(self) -> str:
        return "Serve a captured copy of the site (www/ and manifest.json) on 127.0.0.1 for offline crawls"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group(title="Mirror options")
        group.add_argument(
            "--port",
            type=int,
            default=8000,
            metavar="N",
            help="the port to listen on (default: 8000; 0 takes a free one)",
        )
        group.add_argument(
            "--host",
            default="127.0.0.1",
            metavar="ADDRESS",
            help="the address to listen on (default: 127.0.0.1, this machine only)",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) > 1:
            self._usage(f"takes one folder, not {len(args)}")
            return
        folder = Path(args[0]) if args else BUNDLED
        try:
            server = SiteServer(SiteFolder(folder), opts.host, opts.port)
        except (ValueError, OSError) as exc:
            self._usage(str(exc))
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        with server:
            print(
                f"serving {folder} on {server.url} (crawl it with -a base_url={server.url}; Ctrl-C stops)", flush=True
            )
            stop.wait()

    def _usage(self, message: str) -> None:
        print(f"scrapy mirror: error: {message}", file=sys.stderr)
        self.exitcode = EXIT_USAGE
