"""The worker process: an RQ worker with the scheduler, plus an outbox pump thread and the
deferred texts' thread (``workers.deferred_texts``: texts the webhook stored under surge).

Every second the pump enqueues due outbox jobs, dispatches due messages to send jobs (paced
per sender), and recovers sends a killed worker left half-done. So rows that were committed
but never reached Redis (Redis was down, the web process died after commit) go out without
waiting on a lucky request, and a restarted worker resumes a broadcast within seconds.

The process runs at a lower CPU priority (``WORKER_NICE``): where web and worker share a
machine (one VM, ``make run``), the webhook's answer, which Twilio waits at most 15 s for,
goes first, and the worker takes the CPU the web leaves. On a platform each dyno has CPUs of
its own, and the priority changes nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from typing import Any, cast

from rq import Queue, SimpleWorker
from rq.job import Job

from service import clock, errors, logs
from service.config import Settings
from service.db import unit_of_work
from service.rosters.donations import plan_cycles
from service.rosters.shifts import mark_no_shows
from service.sending import outbox
from service.sending.dispatcher import dispatch_due
from service.volunteers.privacy import apply_retention
from workers import runtime as runtime_module
from workers.deferred_texts import DeferredTexts, answer_deferred
from workers.dispatch import recover_interrupted

log = logging.getLogger(__name__)
job_log = logging.getLogger("handsup.job")

PUMP_INTERVAL = 1.0  # seconds
MIN_PUMP_INTERVAL = 0.1  # when a paced sender gets a token sooner
SWEEP_INTERVAL = 60.0  # seconds between sweeps (no-shows, cycles, message retention)
PUBSUB_POLL = 0.25  # seconds: the longest a stopping worker waits for its pubsub thread
# Niceness added to the worker process: under a surge, storing and acknowledging texts
# (nothing lost) comes before answering them (bench.surge: on 2 shared CPUs, 0 texts lost at
# 3 x C with it, 590-1,038 without).
WORKER_NICE = 10


class OutboxPump(threading.Thread):
    def __init__(self, interval: float = PUMP_INTERVAL) -> None:
        super().__init__(name="outbox-pump", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        last_sweep = 0.0
        wait = 0.0  # the first round runs at once: a restarted worker resumes without delay
        while not self.stopped.wait(wait):
            wait = self.interval
            try:
                rt = runtime_module.runtime()
                now = clock.now()
                recover_interrupted(now)
                outbox.enqueue_due_items(rt.session_factory, rt.redis, now)
                report = dispatch_due(rt.session_factory, rt.redis, rt.buckets, now)
                if report.retry_after is not None:
                    wait = max(MIN_PUMP_INTERVAL, min(self.interval, report.retry_after))
                if time.monotonic() - last_sweep >= SWEEP_INTERVAL:
                    with unit_of_work(rt.session_factory) as session:
                        mark_no_shows(session, clock.now())
                        plan_cycles(session, clock.now())
                        apply_retention(session, clock.now())
                    last_sweep = time.monotonic()
            except Exception:  # the pump must outlive a database blip; the error is logged
                log.exception("outbox pump failed; retrying in %.0fs", self.interval)

    def stop(self) -> None:
        self.stopped.set()


class HandsUpWorker(SimpleWorker):
    """Jobs run in the worker process (no fork): one engine per process, no pool sharing.

    Each job is logged once, as one structured line with its id, function, outcome and time.
    """

    def subscribe(self) -> None:
        """RQ's own subscription to its command channel, with a short pubsub poll.

        RQ polls with ``sleep_time=60``, and redis-py's ``PubSubWorkerThread.stop()`` (8.x)
        joins the thread without a timeout: when the thread loops once more after the
        UNSUBSCRIBE, it waits out the whole minute for a subscription that never comes. A
        ``--burst`` worker then hung for 60 s after its last job, and a worker told to stop
        by the platform would be killed mid-shutdown. A short poll bounds that wait.
        """
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_POLL, daemon=True, exception_handler=self._pubsub_exception_handler
        )
        self.pubsub_thread = cast(Any, thread)  # RQ annotates the attribute as None

    def execute_job(self, job: Job, queue: Queue) -> None:
        started = time.perf_counter()
        try:
            super().execute_job(job, queue)
        finally:
            status = job.get_status(refresh=True)
            job_log.info(
                "job %s %s",
                job.func_name,
                status,
                extra={
                    "job_id": job.id,
                    "job": job.func_name,
                    "queue": queue.name,
                    "status": str(status.value if status is not None else "unknown"),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )


def run_worker(settings: Settings, *, burst: bool = False, **work_kwargs: Any) -> bool:
    if not burst:
        yield_cpu_to_web()
    logs.configure_logging(settings.log_format)
    errors.init_sentry(settings)
    rt = runtime_module.use(settings)
    worker = HandsUpWorker(list(outbox.QUEUES), connection=rt.redis)
    if settings.log_format == "text":
        # Readable development logs: our one line per job, not RQ's four (started, completed,
        # OK, result kept); RQ's warnings and errors still show.
        work_kwargs.setdefault("logging_level", "WARNING")
    if burst:
        return run_burst(rt, worker, **work_kwargs)
    pump = OutboxPump()
    pump.start()
    texts = DeferredTexts()
    texts.start()
    try:
        return bool(worker.work(with_scheduler=True, **work_kwargs))
    finally:
        pump.stop()
        texts.stop()


def yield_cpu_to_web() -> None:
    """Lower this process' CPU priority by ``WORKER_NICE``, before any thread starts (on Linux
    a thread inherits its creator's niceness, and the RQ scheduler's child the process')."""
    try:
        os.nice(WORKER_NICE)
    except OSError as exc:  # a platform that forbids it: run at the usual priority
        log.warning("worker: could not lower its CPU priority (%s)", exc)


def run_burst(rt: runtime_module.Runtime, worker: SimpleWorker, **work_kwargs: Any) -> bool:
    """Answer deferred texts, hand over and run everything due, round after round, until a
    round finds nothing."""
    worked = False
    while True:
        recover_interrupted()
        answered = answer_deferred(rt, settle=timedelta(0))
        handed = answered + outbox.enqueue_due(rt.session_factory, rt.redis, buckets=rt.buckets)
        worked = bool(worker.work(burst=True, with_scheduler=True, **work_kwargs)) or worked
        if not handed:
            return worked
