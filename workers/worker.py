"""The worker process: an RQ worker with the scheduler, plus an outbox pump thread.

The pump enqueues outbox rows that were committed but never reached Redis (Redis was down,
the web process died after commit) every few seconds, so nothing waits on a lucky request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from rq import SimpleWorker

from service import clock, outbox
from service.config import Settings
from service.db import unit_of_work
from service.donations import plan_cycles
from service.rosters import mark_no_shows
from workers import runtime as runtime_module

log = logging.getLogger(__name__)

PUMP_INTERVAL = 2.0  # seconds
SWEEP_INTERVAL = 60.0  # seconds between no-show sweeps


class OutboxPump(threading.Thread):
    def __init__(self, interval: float = PUMP_INTERVAL) -> None:
        super().__init__(name="outbox-pump", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        last_sweep = 0.0
        while not self.stopped.wait(self.interval):
            try:
                rt = runtime_module.runtime()
                outbox.enqueue_due(rt.session_factory, rt.redis)
                if time.monotonic() - last_sweep >= SWEEP_INTERVAL:
                    with unit_of_work(rt.session_factory) as session:
                        mark_no_shows(session, clock.now())
                        plan_cycles(session, clock.now())
                    last_sweep = time.monotonic()
            except Exception:  # the pump must outlive a database blip; the error is logged
                log.exception("outbox pump failed; retrying in %.0fs", self.interval)

    def stop(self) -> None:
        self.stopped.set()


class HandsUpWorker(SimpleWorker):
    """Jobs run in the worker process (no fork): one engine per process, no pool sharing."""


def run_worker(settings: Settings, *, burst: bool = False, **work_kwargs: Any) -> bool:
    rt = runtime_module.use(settings)
    worker = HandsUpWorker(list(outbox.QUEUES), connection=rt.redis)
    pump = OutboxPump()
    if not burst:
        pump.start()
    else:
        outbox.enqueue_due(rt.session_factory, rt.redis)
    try:
        return bool(worker.work(burst=burst, with_scheduler=True, **work_kwargs))
    finally:
        pump.stop()
