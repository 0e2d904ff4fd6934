"""When the webhook stops answering in the request and defers the text to a worker: the surge
gauge of one web process. Imports the stdlib only.

**The signal is the number of inbound webhooks this process is working on at once.** Under
gevent every accepted request is a greenlet, so when texts arrive faster than the process can
run their flow steps they pile up here, waiting for the CPU and for one of the pool's database
connections; each one ahead of a new text adds a step's time to its answer. It is measured
where it matters (this process, now), costs nothing to read, and reacts within one request,
where a backlog count or a lock-wait budget needs a query and lags. A PaaS router's
``X-Request-Start`` adds the time a request waited before it reached any process: a request
that already waited longer than ``QUEUE_BUDGET`` is deferred whatever this process' count.

**Hysteresis.** The process enters surge when ``ENTER_AT`` webhooks are in flight (this one
included; 32 by default, ``HANDSUP_SURGE_IN_FLIGHT``) and leaves it when no more than
``LEAVE_AT`` (a quarter of it) are, so it does not flip on every
request at the edge. In surge the deferred path (store, acknowledge) is several times cheaper
than a step, so the count falls quickly and the process answers synchronously again as soon as
it keeps up: under a sustained surge it answers as many texts in the request as it can and
defers the rest. ``ENTER_AT`` x one step's time (about 5-15 ms of CPU) is the longest a
synchronous answer waits behind others in this process: well under a second, far inside
Twilio's 15 s. A closed loop of a few clients (a small community's evening) never reaches it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

ENTER_AT = 32  # in-flight webhooks at which this process starts deferring (configurable:
# HANDSUP_SURGE_IN_FLIGHT)
LEAVE_AT = ENTER_AT // 4  # ... and at or under which it answers in the request again
QUEUE_BUDGET = 2.0  # seconds a request may have waited at the router before it reached us


class SurgeGauge:
    """In-flight inbound webhooks of one process, and whether it is in surge.

    Greenlets of one gevent worker (or threads) share one gauge; the counter is only changed
    between I/O waits, so plain integer updates are enough under gevent, and under threads a
    lost update would only shift the count by one for a moment.
    """

    def __init__(self, enter_at: int = ENTER_AT, leave_at: int | None = None) -> None:
        """Enter surge at ``enter_at`` in flight; leave at ``leave_at`` (a quarter of it)."""
        leave_at = enter_at // 4 if leave_at is None else leave_at
        if not 0 <= leave_at < enter_at:
            raise ValueError("leave_at must be below enter_at")
        self.enter_at = enter_at
        self.leave_at = leave_at
        self.in_flight = 0
        self.surging = False

    @contextmanager
    def track(self) -> Iterator[bool]:
        """Count one webhook in flight for the block; yields whether to defer its text."""
        self.in_flight += 1
        if self.in_flight >= self.enter_at:
            self.surging = True
        elif self.in_flight <= self.leave_at:
            self.surging = False
        try:
            yield self.surging
        finally:
            self.in_flight -= 1
            if self.in_flight <= self.leave_at:
                self.surging = False


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
