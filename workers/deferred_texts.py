"""The worker's lane for deferred texts: a thread that answers the texts the webhook stored
under surge (``service.conversations.deferred``) in the runtime's lane processes, and hands
their replies to the send jobs at once.

It starts the runtime's lane processes first, so that they are ready when a surge begins. It
waits on the webhook's wake-up list in Redis, and looks every ``deferred.POLL`` seconds
anyway, so a text deferred while Redis was down is answered too. It runs beside RQ's job loop
(a thread, like the outbox pump): the send jobs that carry its replies run meanwhile, so
answering texts and waiting on Twilio overlap.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta

from redis.exceptions import RedisError

from service import clock
from service.conversations import deferred
from service.conversations.inbound import WaitingText
from service.sending.dispatcher import dispatch_due
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)


def answer_deferred(
    rt: Runtime, *, settle: timedelta = deferred.SETTLE, pool: Executor | None = None
) -> int:
    """Answer deferred texts until none is left, handing each lane's replies to the send
    jobs as soon as its turn ends; returns how many were answered. With a ``pool`` (the
    worker's lane processes) they are answered in ``rt.deferred_lanes`` lanes, else batch
    after batch in this thread (a burst worker)."""

    def dispatch() -> None:
        dispatch_due(rt.session_factory, rt.redis, rt.buckets)

    total = 0
    while answered := deferred.answer_waiting(
        rt.session_factory,
        clock.now(),
        settle=settle,
        pool=pool,
        lanes=rt.deferred_lanes,
        answer_lane=answer_lane if pool is not None else None,
        after_lane=dispatch,
    ):
        total += answered
        if pool is None:
            dispatch()
    return total


def answer_lane(texts: list[WaitingText]) -> int:
    """One lane of a batch, in a lane process: its senders' texts, in order."""
    return deferred.answer_in_order(runtime().session_factory, texts)


class DeferredTexts(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="deferred-texts", daemon=True)
        self.stopped = threading.Event()

    def run(self) -> None:
        lanes_ready = False
        while not self.stopped.is_set():
            rt = runtime()
            try:
                if not lanes_ready:  # started before a surge, not spawned during one
                    rt.start_deferred_lanes()
                    lanes_ready = True
                    log.info("deferred texts: %d lane processes ready", rt.deferred_lanes)
                self.wait_for_wake(rt)
                if self.stopped.is_set():
                    return
                self.stopped.wait(deferred.AFTER_WAKE)
                answer_deferred(rt, pool=rt.deferred_pool)
            except BrokenProcessPool:
                log.exception("deferred texts: a lane process died; starting new ones")
                rt.restart_deferred_pool()
                lanes_ready = False
                self.stopped.wait(deferred.POLL)  # lanes that cannot start: not in a tight loop
            except Exception:  # outlive a database blip; the texts wait, and are logged
                log.exception("deferred texts: answering failed; retrying")
                self.stopped.wait(deferred.POLL)

    def wait_for_wake(self, rt: Runtime) -> None:
        """Until the webhook wakes this thread or ``deferred.POLL`` passes (Redis down: the
        poll's wait, then a look anyway)."""
        try:
            deferred.wait_for_wake(rt.redis)
        except RedisError as exc:
            log.warning("deferred texts: Redis unavailable (%s); polling", exc)
            self.stopped.wait(deferred.POLL)

    def stop(self) -> None:
        self.stopped.set()
