"""One run at a time per JOBDIR: a second run started while the first still runs stops before it
touches the directory (``JobDirBusy``, finish reason ``jobdir_busy``) instead of taking the first
one's queue for a killed run's (``mayadeen.extensions.resume``). When the first has held the directory
longer than ``MAYADEEN_JOBDIR_STUCK_AFTER`` seconds (0, the default: never), it may be hung, and the
second run fails (``jobdir_stuck``, an ERROR, exit 1) instead of being skipped quietly every time.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

from mayadeen.extensions.run_outcome import JOBDIR_BUSY, JOBDIR_STUCK

logger = logging.getLogger(__name__)

LOCK_FILE = "mayadeen-job.lock"


class JobDirBusy(RuntimeError):
    """Another running crawl uses this JOBDIR."""


def _span(seconds: float) -> str:
    """``42 s``, ``17 min``, ``3.2 h``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def lock_jobdir(crawler, jobdir: Path) -> int:
    """An exclusive flock on ``jobdir``, held until the spider closes (the kernel drops it if we die):
    its file descriptor. Another run holding it: ``JobDirBusy``, the finish reason set for the crawl
    command's verdict."""
    fd = os.open(Path(jobdir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        held = max(time.time() - os.fstat(fd).st_mtime, 0.0)  # the holder wrote its pid as it locked
        os.close(fd)
        message = f"JOBDIR {jobdir} is in use by another crawl (pid {pid}, for {_span(held)})"
        stuck_after = crawler.settings.getfloat("MAYADEEN_JOBDIR_STUCK_AFTER", 0)
        if stuck_after and held > stuck_after:
            message += f", longer than MAYADEEN_JOBDIR_STUCK_AFTER={stuck_after:g} s: it may be hung"
            logger.error("%s; not starting a second run of it", message)
            crawler.stats.set_value("finish_reason", JOBDIR_STUCK)
        else:
            logger.warning("%s; not starting a second run of it", message)  # a normal state under cron
            crawler.stats.set_value("finish_reason", JOBDIR_BUSY)
        raise JobDirBusy(message) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
