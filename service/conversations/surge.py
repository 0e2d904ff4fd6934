"""When the webhook stops answering in the request and defers the text to a worker: the surge
gauge of one web process. Imports the stdlib and ``service.config`` (the default threshold).

Each process logs when it enters surge and when it leaves it (with how long it lasted and
how many texts it deferred): texts deferred while no surge is on mean the web is short of
capacity (``docs/deployment.md``).

**The signal is the number of inbound webhooks this process is working on at once.** Under
gevent every accepted request is a greenlet, so when texts arrive faster than the process can
run their flow steps they pile up here, waiting for the CPU and for one of the pool's database
connections; each one ahead of a new text adds a step's time to its answer. It is measured
where it matters (this process, now), costs nothing to read, and reacts within one request,
where a backlog count or a lock-wait budget needs a query and lags. A PaaS router's
``X-Request-Start`` adds the time a request waited before it reached any process, which the
count cannot see (requests waiting for the CPU before they reach the view): a request that
waited longer than ``QUEUE_BUDGET`` is deferred, and puts the process in surge too.

**Hysteresis.** The process enters surge when ``ENTER_AT`` webhooks are in flight (this one
included; 16 by default, ``HANDSUP_SURGE_IN_FLIGHT``) or a request waited too long at the
router, and leaves it once no more than ``LEAVE_AT`` (a quarter of ``ENTER_AT``) are in
flight, ``HOLD`` seconds have passed since it last entered, and the texts of the last
``RATE_WINDOW`` s would keep no more than ``LEAVE_AT`` in flight if they were answered in the
request (Little's law: their rate x the time a step takes here when the process is calm,
measured on the requests answered in the request that began with at most ``LEAVE_AT`` in
flight). In surge acknowledgements are so cheap that the count alone falls to ``LEAVE_AT``
while texts still pour in; leaving then (``bench.surge``, 2026-12-06: every 3-5 s) stepped
texts in the request again, which queued on the rows every answer to a call-out takes while
a worker held them, for up to a second, until the count rose and the process entered surge
once more. In surge the deferred path (store, acknowledge) is several times cheaper than a
step, so the count falls quickly; without the hold the process would step the next texts in
the request, fill up again, and spend a surge flipping between the two, a step's CPU at a
time (a sixth of a web process's CPU in ``bench.surge`` before the hold). Once the surge
passes, answers are synchronous again within ``HOLD`` s, or ``RATE_WINDOW`` s after the
texts slow down. ``ENTER_AT`` x one step's time (about 5-15 ms of CPU) is the longest a
synchronous answer waits behind others in this process: well under a second, far inside
Twilio's 15 s. A closed loop of a few clients (a small community's evening) never reaches it.

**Why 16 and 2 s** (``bench.surge``, 2026-12-06, per 5 s of the surge): at the start of a
surge every step still in flight when the process enters it runs on, and the
acknowledgements queue behind them for the CPU; with 32 the first 5 s had a p99 of
1.3-2.9 s in seven runs (median 1.5 s), with 16 0.5-2.0 s in five (median 1.1 s). Each time
the process leaves surge while texts still pour in, it steps them until it enters again, and
answers behind those steps wait up to a second or two: a 2 s hold leaves less often than
1 s, and still answers in the request within 1-3 s of a surge's end.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from service.config import SURGE_IN_FLIGHT

log = logging.getLogger(__name__)

ENTER_AT = SURGE_IN_FLIGHT  # in-flight webhooks at which this process starts deferring
# (configurable: HANDSUP_SURGE_IN_FLIGHT)
LEAVE_AT = ENTER_AT // 4  # ... and at or under which it answers in the request again
HOLD = 2.0  # seconds a process stays in surge at least, once it entered it
QUEUE_BUDGET = 0.5  # seconds a request may have waited at the router before it reached us
RATE_WINDOW = 1.0  # seconds of arrivals the rate that may keep a process in surge counts
STEP_WEIGHT = 0.1  # weight of each new calm step's time in the running average


class SurgeGauge:
    """In-flight inbound webhooks of one process, and whether it is in surge.

    Greenlets of one gevent worker (or threads) share one gauge; the counter is only changed
    between I/O waits, so plain integer updates are enough under gevent, and under threads a
    lost update would only shift the count by one for a moment.
    """

    def __init__(
        self,
        enter_at: int = ENTER_AT,
        leave_at: int | None = None,
        *,
        hold: float = HOLD,
        clock: Callable[[], float] = time.monotonic,
        window: float = RATE_WINDOW,
    ) -> None:
        """Enter surge at ``enter_at`` in flight; leave at ``leave_at`` (a quarter of it),
        ``hold`` s after entering at the earliest, once the arrivals of the last ``window``
        s would keep no more than ``leave_at`` in flight."""
        leave_at = enter_at // 4 if leave_at is None else leave_at
        if not 0 <= leave_at < enter_at:
            raise ValueError("leave_at must be below enter_at")
        if window <= 0:
            raise ValueError("window must be positive")
        self.enter_at = enter_at
        self.leave_at = leave_at
        self.hold = hold
        self.clock = clock
        self.window = window
        self.in_flight = 0
        self.surging = False
        self.held_until = -math.inf
        self.step_time = 0.0  # running average of a calm step's seconds; 0 until one is seen
        self._arrivals: deque[float] = deque()  # moments of the last ``window`` s's webhooks
        self._entered_at = -math.inf  # when the current surge began
        self._deferred = 0  # texts deferred in the current surge

    @contextmanager
    def track(self, waited_too_long: bool = False) -> Iterator[bool]:
        """Count one webhook in flight for the block; yields whether to defer its text.
        ``waited_too_long``: it waited over the budget at the router (``queued_too_long``)."""
        started = self.clock()
        self._forget_arrivals_before(started - self.window)
        self._arrivals.append(started)
        calm = self.in_flight <= self.leave_at
        self.in_flight += 1
        if self.in_flight >= self.enter_at or waited_too_long:
            if not self.surging:
                self._enter(started, waited_too_long)
            self.held_until = started + self.hold
        elif self.surging:
            self._maybe_leave()
        deferred = self.surging
        if deferred:
            self._deferred += 1
        try:
            yield deferred
        finally:
            self.in_flight -= 1
            if calm and not deferred:
                self.step_time += STEP_WEIGHT * (self.clock() - started - self.step_time)
            if self.surging:
                self._maybe_leave()

    @property
    def expected_in_flight(self) -> float:
        """In flight if the last ``window`` s's texts were answered in the request, each in
        the time a calm step takes (Little's law)."""
        return len(self._arrivals) / self.window * self.step_time

    def is_surging(self) -> bool:
        """Whether the process is in surge now (a request that began before it was, asks
        again before its step: ``inbound._process``)."""
        return self.surging

    def _maybe_leave(self) -> None:
        now = self.clock()
        if self.in_flight > self.leave_at or now < self.held_until:
            return
        self._forget_arrivals_before(now - self.window)
        if self.expected_in_flight <= self.leave_at:
            self.surging = False
            log.info(
                "surge over after %.1f s: %d text(s) deferred to the workers; "
                "answering in the request again",
                now - self._entered_at,
                self._deferred,
            )

    def _enter(self, now: float, waited_too_long: bool) -> None:
        self.surging = True
        self._entered_at = now
        self._deferred = 0
        log.warning(
            "surge: deferring texts to the workers (%d webhook(s) in flight%s)",
            self.in_flight,
            f", one waited over {QUEUE_BUDGET} s at the router" if waited_too_long else "",
        )

    def _forget_arrivals_before(self, moment: float) -> None:
        while self._arrivals and self._arrivals[0] <= moment:
            self._arrivals.popleft()


def queued_too_long(request_start: str | None, now: float | None = None) -> bool:
    """Whether the router's ``X-Request-Start`` says this request waited over ``QUEUE_BUDGET``.

    Routers write it as ``t=<time>`` or a bare number, in seconds, milliseconds or
    microseconds since the epoch (Heroku: milliseconds); anything unreadable counts as no wait.
    """
    if not request_start:
        return False
    raw = request_start.strip().removeprefix("t=")
    try:
        value = float(raw)
    except ValueError:
        return False
    if value > 1e14:  # microseconds
        value /= 1e6
    elif value > 1e11:  # milliseconds
        value /= 1e3
    waited = (time.time() if now is None else now) - value
    return QUEUE_BUDGET < waited < 3600.0  # an hour off is a clock problem, not a queue
