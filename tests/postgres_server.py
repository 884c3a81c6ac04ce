"""A real PostgreSQL cluster for the tests: initdb in a temporary directory, on a free 127.0.0.1 port,
fsync off (a killed server keeps what it acknowledged; only an OS crash would lose it).

``initdb`` and ``pg_ctl`` refuse to run as root: as root the cluster runs as the ``postgres`` user.
One cluster serves a whole test session; each test gets a database of its own (``new_database``,
dropped after the test). ``initdb`` runs once per process: a test that needs a cluster of its own (to
stop or freeze it) gets a copy of that first one's files. The clusters' files are in memory where
there is a tmpfs (``/dev/shm``): a new database writes ~10 MB, and on a disk shared with other work
that was most of a test's set-up.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
from itertools import count
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("MAYADEEN_PG_BIN", "/usr/lib/postgresql/15/bin"))
IN_MEMORY = Path("/dev/shm")
needs_postgres = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists(), reason=f"no PostgreSQL server in {PG_BIN} (apt-get install postgresql)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*argv: str, timeout: float = 60) -> None:
    runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*runner, *argv], check=True, capture_output=True, timeout=timeout)


def _owned(directory: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")


_template: Path | None = None


def _initialised() -> Path:
    """A data directory ``initdb`` made, once per process (removed at its exit), for clusters to copy."""
    global _template
    if _template is None:
        directory = Path(tempfile.mkdtemp(prefix="mayadeen-pg-template-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        _owned(directory)
        data = directory / "data"
        _run(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--locale=C.UTF-8", "-E", "UTF8")
        _template = data
    return _template


class PostgresCluster:
    """A copy of the process's ``initdb`` + ``pg_ctl start`` in a temporary directory (trust auth, fsync off);
    ``stop`` removes it."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="mayadeen-pg-", dir=IN_MEMORY if IN_MEMORY.is_dir() else None))
        self.data = self.dir / "data"
        self.port = free_port()
        self._names = count(1)

    def start(self) -> PostgresCluster:
        _owned(self.dir)
        _run("cp", "-a", str(_initialised()), str(self.data))
        for attempt in range(5):  # another process (tests run in parallel) may take the free port first
            try:
                self.start_server()
                return self
            except subprocess.CalledProcessError:
                if attempt == 4:
                    raise
                self.port = free_port()
        return self

    def start_server(self) -> None:
        _run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.dir / "server.log"),
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c full_page_writes=off -c max_connections=200",
            "start",
        )

    def stop_server(self) -> None:
        """The server killed at once (``-m immediate``: no checkpoint, recovery at the next start)."""
        _run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def stop(self) -> None:
        try:
            self.stop_server()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            # FILE_COPY: half the server's CPU of the default WAL_LOG (which logs every page of the
            # template) for a small template with fsync off; a database per store test.
            conn.execute(f'CREATE DATABASE "{name}" STRATEGY = FILE_COPY')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drops the database at ``url`` (of this cluster), its sessions ended first."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
