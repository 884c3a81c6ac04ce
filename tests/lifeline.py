"""Servers a test starts stop with the test process, however that process ends.

A test's finaliser stops the PostgreSQL cluster or redis-server it started; a process killed before its
finalisers run (SIGKILL, the OOM killer, xdist's controller ending its workers after a Ctrl-C or a
``--timeout``) left them running, holding memory and ports until the next reboot. A lifeline is a pipe
whose write end only the test process holds (Python's pipes are not inherited by the processes it starts:
not by the server either): a small watcher process blocks reading it and, at end of file — the test
process is gone — runs the server's stop command and removes its directory. A clean stop writes one
byte first: the watcher then exits doing nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_WATCHER = """
import os, shutil, subprocess, sys
fd, remove, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
if os.read(fd, 1) == b"":
    subprocess.run(stop, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    if remove:
        shutil.rmtree(remove, ignore_errors=True)
"""


class Lifeline:
    """Runs ``stop`` (an argv) and removes ``remove`` once this process is gone, unless ``release``d first."""

    def __init__(self, stop: list[str], remove: Path | None = None):
        read_end, self._write_end = os.pipe()
        try:
            self.watcher = subprocess.Popen(
                [sys.executable, "-c", _WATCHER, str(read_end), str(remove or ""), *stop],
                pass_fds=(read_end,),
                start_new_session=True,  # not in the test run's process group: a Ctrl-C does not stop it first
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            os.close(read_end)

    def release(self) -> None:
        """The server was stopped cleanly: the watcher exits without doing anything."""
        if self._write_end is not None:
            os.write(self._write_end, b"x")
            os.close(self._write_end)
            self._write_end = None
            self.watcher.wait(60)  # a Python start, slow on a loaded machine
