"""Whether a process of this machine is still running (a crawl's run row, an export's staging dir)."""

from __future__ import annotations

import os


def is_running(pid: int) -> bool:
    """True while process ``pid`` exists (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
