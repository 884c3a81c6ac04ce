"""A fixture server that misbehaves on purpose, reproducibly.

``FaultServer(FaultPlan(seed=7, share=0.3, kinds=("500", "stall")))`` serves the fixture site, but a
``share`` of its URLs (chosen from ``seed`` and the URL, so the choice does not depend on the order in
which concurrent requests arrive) answer with a fault on their first 1..``max_attempts`` requests,
then normally. URLs in ``keep_failing`` fault on every request (a page the crawler must give up).
Faults whose point is "extract right anyway" (wrong content type or charset) are served on every
request by default, so a crawler cannot pass by retrying them away.

Every request is logged with its arrival time and the fault it got (``log``), so tests can check
timing from the server's side (Retry-After honoured, backoff between attempts).
"""

from __future__ import annotations

import gzip
import math
import random
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler

from tests.fixture_server import Answer, FixtureServer, FixtureSite, write_answer

PUBLIC_URL = "https://english.almayadeen.net"

#: Every kind of fault the server can inject.
FAULT_KINDS = (
    "500",
    "502",
    "503",  # server errors
    "429_seconds",  # 429 Too Many Requests, Retry-After: <delta-seconds>
    "429_date",  # 429 Too Many Requests, Retry-After: <HTTP-date>
    "stall",  # no answer until well past the client's download timeout
    "cut_body",  # Content-Length announced, connection closed halfway through the body
    "cut_body_unsized",  # no Content-Length, "Connection: close", half the body, then close
    "truncated_gzip",  # Content-Encoding: gzip, the gzip stream cut off (a sized, "complete" reply)
    "redirect_loop",  # a redirect to itself, or to a twin URL that redirects back
    "wrong_content_type",  # the right body under a wrong Content-Type
    "wrong_charset",  # a UTF-8 body declared as another charset
    "empty_200",  # 200 OK with an empty body
)
#: Faults that are served on every request of their URL unless the plan says otherwise.
PERSISTENT_KINDS = frozenset({"wrong_content_type", "wrong_charset"})

WRONG_CONTENT_TYPES = (
    "text/plain; charset=utf-8",
    "application/octet-stream",
    "application/xml",
    "application/json",
    "image/jpeg",
    "",
)
WRONG_CHARSETS = ("iso-8859-1", "windows-1252", "windows-1251", "utf-16", "ascii", "shift_jis")
LOOP_PARAM = "_loop"


@dataclass
class FaultPlan:
    seed: int = 0
    #: Share of URLs that fault (0..1).
    share: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    #: A faulty URL faults on its first 1..max_attempts requests (drawn per URL).
    max_attempts: int = 2
    #: Paths (path + query) that fault on every request, with the kind to use.
    keep_failing: dict[str, str] = field(default_factory=dict)
    #: Paths never faulted (e.g. to keep a test's timing measurable).
    exempt: frozenset[str] = frozenset()
    #: When set, only paths starting with one of these fault (the share is drawn among them).
    only: tuple[str, ...] = ()
    #: Paths (path + query) that fault on their first request only, with the kind to use.
    once: dict[str, str] = field(default_factory=dict)
    #: Seconds a 429 asks the client to wait.
    retry_after: int = 1
    #: Seconds a stalled request hangs before the server drops it.
    stall_seconds: float = 3.0
    persistent: frozenset[str] = PERSISTENT_KINDS

    def __post_init__(self):
        unknown = (set(self.kinds) | set(self.keep_failing.values()) | set(self.once.values())) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")

    def fault_for(self, path: str) -> tuple[str, int] | None:
        """``(kind, attempts)`` for a faulty URL (attempts 0 = every request), None for a healthy one.

        Drawn from a generator seeded with the plan's seed and the URL alone.
        """
        if path in self.keep_failing:
            return self.keep_failing[path], 0
        if path in self.once:
            return self.once[path], 1
        if path in self.exempt or not self.kinds or (self.only and not path.startswith(self.only)):
            return None
        rng = random.Random(f"{self.seed}|{path}")
        if rng.random() >= self.share:
            return None
        kind = rng.choice(self.kinds)
        attempts = 0 if kind in self.persistent else rng.randint(1, self.max_attempts)
        return kind, attempts

    def variant(self, path: str, options: tuple) -> object:
        """A per-URL choice among ``options`` (which wrong type, which redirect shape)."""
        return random.Random(f"{self.seed}|{path}|variant").choice(options)


@dataclass
class FaultHit:
    """One request as the fault server saw it."""

    at: float  # time.time() when the request arrived
    path: str  # path + query
    attempt: int  # 1 for the first request of this path
    fault: str | None  # the fault served, or None for a normal answer
    until: float | None = None  # for a 429: the time Retry-After points at
    sent: float | None = None  # when the fault's answer was written (429s)


class FaultServer(FixtureServer):
    """``with FaultServer(FaultPlan(...)) as srv:`` — the fixture site with injected faults."""

    def __init__(self, plan: FaultPlan | None = None, site: FixtureSite | None = None, *, delay: float = 0.0):
        super().__init__(site)
        self.plan = plan or FaultPlan()
        #: Extra seconds before every answer (a slow server, for crash tests).
        self.delay = delay
        self.log: list[FaultHit] = []
        self._attempts: Counter[str] = Counter()
        self._stopping = threading.Event()
        self.httpd.handle_error = self._handle_error

    @staticmethod
    def _handle_error(request, client_address) -> None:
        """Quiet about clients that hang up (they do, on the faults above); loud about the rest."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            traceback.print_exc()

    # -- the handler hook ------------------------------------------------------------------------
    def handle(self, handler: BaseHTTPRequestHandler, answer: Answer) -> None:
        now = time.time()
        path = handler.path
        with self._lock:
            self._attempts[path] += 1
            attempt = self._attempts[path]
        fault = self._fault(path, attempt)
        hit = FaultHit(now, path, attempt, fault)
        with self._lock:
            self.log.append(hit)
        if self.delay:
            self._stopping.wait(self.delay)
        try:
            if fault is None:
                write_answer(handler, answer)
            else:
                self._SERVE[fault](self, handler, answer, hit)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            handler.close_connection = True

    def _fault(self, path: str, attempt: int) -> str | None:
        if is_loop_twin(path):
            return "redirect_loop"  # the twin of a looping URL always points back
        drawn = self.plan.fault_for(path)
        if drawn is None:
            return None
        kind, attempts = drawn
        return kind if attempts == 0 or attempt <= attempts else None

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    # -- the faults ------------------------------------------------------------------------------
    def _fault_status(self, handler, answer, hit):
        status = int(hit.fault)
        body = f"<html><body><h1>{status}</h1></body></html>".encode()
        write_answer(handler, Answer(status, "text/html; charset=utf-8", body))

    def _fault_too_many(self, handler, answer, hit):
        if hit.fault == "429_seconds":
            until = time.time() + self.plan.retry_after
            value = str(self.plan.retry_after)
        else:  # an HTTP-date has whole seconds: point at a whole second at least retry_after away
            until = math.ceil(time.time()) + self.plan.retry_after
            value = formatdate(until, usegmt=True)
        hit.until = until
        write_answer(
            handler,
            Answer(
                429, "text/html; charset=utf-8", b"<html><body>Too Many Requests</body></html>", {"Retry-After": value}
            ),
        )
        hit.sent = time.time()

    def _fault_stall(self, handler, answer, hit):
        self._stopping.wait(self.plan.stall_seconds)
        handler.close_connection = True  # never answer; the client has long given up

    def _fault_cut(self, handler, answer, hit):
        body = answer.body
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.content_type)
        if hit.fault == "cut_body":
            handler.send_header("Content-Length", str(len(body)))
        else:
            handler.send_header("Connection", "close")
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        handler.close_connection = True

    def _fault_truncated_gzip(self, handler, answer, hit):
        packed = gzip.compress(answer.body)
        # Cut inside the deflate data (past the 10-byte header), so some of the page decodes.
        cut = packed[: max(12, int(len(packed) * random.Random(f"{self.plan.seed}|{hit.path}|cut").uniform(0.3, 0.9)))]
        write_answer(
            handler, Answer(answer.status, answer.content_type, cut, {**answer.headers, "Content-Encoding": "gzip"})
        )

    def _fault_redirect_loop(self, handler, answer, hit):
        path = hit.path
        if is_loop_twin(path):
            target = strip_loop(path)  # the twin points back at the original
        elif self.plan.variant(path, ("self", "twin")) == "self":
            target = path
        else:
            target = path + ("&" if "?" in path else "?") + f"{LOOP_PARAM}=1"
        location = PUBLIC_URL + target
        write_answer(
            handler,
            Answer(302, "text/html; charset=utf-8", b"<html><body>Object moved</body></html>", {"Location": location}),
        )

    def _fault_wrong_type(self, handler, answer, hit):
        if hit.fault == "wrong_content_type":
            ctype = self.plan.variant(hit.path, WRONG_CONTENT_TYPES)
        else:
            base = answer.content_type.split(";")[0].strip() or "text/html"
            ctype = f"{base}; charset={self.plan.variant(hit.path, WRONG_CHARSETS)}"
        write_answer(handler, Answer(answer.status, ctype, answer.body, answer.headers))

    def _fault_empty(self, handler, answer, hit):
        write_answer(handler, Answer(200, answer.content_type, b"", {}))

    _SERVE = {
        "500": _fault_status,
        "502": _fault_status,
        "503": _fault_status,
        "429_seconds": _fault_too_many,
        "429_date": _fault_too_many,
        "stall": _fault_stall,
        "cut_body": _fault_cut,
        "cut_body_unsized": _fault_cut,
        "truncated_gzip": _fault_truncated_gzip,
        "redirect_loop": _fault_redirect_loop,
        "wrong_content_type": _fault_wrong_type,
        "wrong_charset": _fault_wrong_type,
        "empty_200": _fault_empty,
    }

    # -- what happened ---------------------------------------------------------------------------
    def hits(self) -> list[FaultHit]:
        with self._lock:
            return list(self.log)

    def faults(self) -> Counter[str]:
        """How many faulty answers of each kind were served."""
        return Counter(h.fault for h in self.hits() if h.fault)


def is_loop_twin(path: str) -> bool:
    return f"{LOOP_PARAM}=" in path.partition("?")[2]


def strip_loop(path: str) -> str:
    base, _, query = path.partition("?")
    kept = [kv for kv in query.split("&") if kv and not kv.startswith(f"{LOOP_PARAM}=")]
    return base + ("?" + "&".join(kept) if kept else "")
