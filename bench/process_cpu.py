"""CPU time of a child process and of every process it started, the browser's included.

``resource.getrusage(RUSAGE_CHILDREN)`` counts a descendant only when its parent waited for it; the
Playwright driver's Chromium processes are orphaned when the driver is stopped, so their CPU time
(most of a render's) never reaches it. ``run_counted`` makes this process the subreaper of its
descendants (Linux ``PR_SET_CHILD_SUBREAPER``): orphans are re-parented here and reaped, and counted.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import time

PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> None:
    """Orphaned descendants of this process become its children (once per process)."""
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_orphans(timeout: float = 30) -> None:
    """Wait for every adopted orphan to end (at most ``timeout`` s: a browser still closing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def run_counted(argv: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, float, float]:
    """``subprocess.run(argv, capture_output=True, text=True, **kwargs)``: (result, wall s, CPU s of the
    process and all its descendants)."""
    adopt_orphans()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    wall = time.monotonic() - started
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc, wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
