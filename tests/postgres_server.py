"""A real PostgreSQL cluster for the tests: initdb in a temporary directory, on a free 127.0.0.1 port,
fsync off (a killed server keeps what it acknowledged; only an OS crash would lose it).

``initdb`` and ``pg_ctl`` refuse to run as root: as root the cluster runs as the ``postgres`` user.
One cluster serves a whole test session; each test gets a database of its own (``new_database``,
dropped after the test). ``initdb`` runs once per test run (``share_template``: the xdist workers copy
one template; about 1 s of CPU and 3 s of wall time each) or, outside one, once per process: each
cluster, the session's and those a test stops or freezes, is a copy of that template. The clusters'
files are in memory where there is a tmpfs (``/dev/shm``): a new database writes ~10 MB, and on a
disk shared with other work that was most of a test's set-up.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
from itertools import count
from pathlib import Path

import pytest

from tests.lifeline import Lifeline

PG_BIN = Path(os.environ.get("MAYADEEN_PG_BIN", "/usr/lib/postgresql/15/bin"))
IN_MEMORY = Path("/dev/shm")
needs_postgres = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists(), reason=f"no PostgreSQL server in {PG_BIN} (apt-get install postgresql)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*argv: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)


def _run(*argv: str, timeout: float = 60) -> None:
    subprocess.run(_as_postgres(*argv), check=True, capture_output=True, timeout=timeout)


def _owned(directory: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")


#: The environment variable naming a test run's template directory (``share_template``).
SHARED_TEMPLATE_ENV = "MAYADEEN_TEST_PG_TEMPLATE"
_template: Path | None = None
_shared_by_me: Path | None = None


def share_template() -> None:
    """One ``initdb`` for a test run: a directory for the template, named in the environment the xdist
    workers inherit (the first cluster to start makes the template; ``unshare_template`` removes it).
    A process that inherited one (a worker) keeps it."""
    global _shared_by_me
    if SHARED_TEMPLATE_ENV not in os.environ:
        _shared_by_me = Path(tempfile.mkdtemp(prefix="mayadeen-pg-template-"))
        _owned(_shared_by_me)
        os.environ[SHARED_TEMPLATE_ENV] = str(_shared_by_me)


def unshare_template() -> None:
    """Removes the run's template, in the process that made its directory."""
    if _shared_by_me is not None:
        shutil.rmtree(_shared_by_me, ignore_errors=True)
        os.environ.pop(SHARED_TEMPLATE_ENV, None)


def _initdb(data: Path) -> None:
    _run(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--locale=C.UTF-8", "-E", "UTF8")


def _initialised() -> Path:
    """A data directory ``initdb`` made, for clusters to copy: the test run's (made by the first process
    to need it, the others waiting on its lock), else this process's (removed at its exit)."""
    global _template
    if _template is None:
        if shared := os.environ.get(SHARED_TEMPLATE_ENV):
            directory = Path(shared)
            with open(directory / "lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not (directory / "data").is_dir():
                    shutil.rmtree(directory / "initdb", ignore_errors=True)  # a killed process's half
                    _initdb(directory / "initdb")
                    (directory / "initdb").rename(directory / "data")  # whole, or absent: never half made
        else:
            directory = Path(tempfile.mkdtemp(prefix="mayadeen-pg-template-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            _owned(directory)
            _initdb(directory / "data")
        _template = directory / "data"
    return _template


class PostgresCluster:
    """A copy of the process's ``initdb`` + ``pg_ctl start`` in a temporary directory (trust auth, fsync off);
    ``stop`` removes it, and so does its lifeline once this process is gone (``tests.lifeline``)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="mayadeen-pg-", dir=IN_MEMORY if IN_MEMORY.is_dir() else None))
        self.data = self.dir / "data"
        self.port = free_port()
        self._names = count(1)
        self.lifeline: Lifeline | None = None

    def start(self) -> PostgresCluster:
        _owned(self.dir)
        self.lifeline = Lifeline(self._stop_command(), remove=self.dir)
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

    def _stop_command(self) -> list[str]:
        return _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def stop_server(self) -> None:
        """The server killed at once (``-m immediate``: no checkpoint, recovery at the next start)."""
        subprocess.run(self._stop_command(), check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        try:
            self.stop_server()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.lifeline is not None:
                self.lifeline.release()

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
