"""How long a PostgreSQL store keeps trying a server that went away: one retry window per outage.

The window (the store's ``retry_timeout``) starts when a transaction first finds the server away and
ends when one goes through again. A transaction that loses its connection within it is retried with
backoff; once it has run out, each transaction tries the server once and fails if it does not answer.
So a long outage costs each item one connection attempt, not a window of its own, and any transaction
once the server is back (a run's closing writes too) goes through.
"""

from __future__ import annotations

import logging
import time


class Outage:
    """The outage state of one store, said on the store's ``logger``."""

    def __init__(self, location: str, retry_timeout: float, logger: logging.Logger):
        self.location, self.retry_timeout, self.logger = location, retry_timeout, logger
        self.since: float | None = None  # when a transaction first found the server away
        self.spent = False  # whether this outage has outlasted the window (said once)

    def seconds_left(self, error: Exception) -> float:
        """A transaction lost its connection (``error``): the seconds left of the outage's window, the
        outage starting now if none was under way; at most 0 once it has run out."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        left = self.since + self.retry_timeout - now
        if left > 0:
            self.logger.warning(
                "PostgreSQL store %s unreachable (%s); retrying for %.0fs more",
                self.location,
                " ".join(str(error).split())[:200],
                left,
            )
        elif not self.spent:
            self.spent = True
            self.logger.warning(
                "PostgreSQL store %s unreachable for %.0fs, longer than its retry window: until it"
                " answers, each transaction tries it once and fails if it does not answer",
                self.location,
                now - self.since,
            )
        return left

    def ended(self) -> None:
        """A transaction went through: an outage under way is over."""
        if self.since is not None:
            self.logger.info(
                "PostgreSQL store %s answers again, after %.0fs", self.location, time.monotonic() - self.since
            )
            self.since, self.spent = None, False
