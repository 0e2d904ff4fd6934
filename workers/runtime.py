"""Per-process resources for jobs: settings, a session factory, Redis, the pacing buckets and
the sender registry.

Built on first use (never at import) and reset with ``reset()`` in tests, so a job needs no
Flask app context. One database session per job.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service import logs
from service.config import Environment, Settings
from service.conversations import destinations
from service.db import make_engine, make_session_factory
from service.redis_conn import connect, redis_url_for
from service.sending.pacing import TokenBuckets
from workers.senders import SenderRegistry

# Concurrent sends per batch: Twilio takes 100-300 ms to answer, so one at a time would hold a
# worker to a few messages a second, below what a short code or a WhatsApp sender may send.
# A batch uses as many lanes as its senders' rates times Twilio's latency need
# (``workers.dispatch.lanes_for``), at least ``MIN_SEND_LANES`` and at most ``SEND_THREADS``:
# a batch of replies to a surge (100 texts, a sender above 240/s) goes out in one round, and
# the worker stays under Twilio's account limit of about 100 requests in flight (20429).
SEND_THREADS = 96
MIN_SEND_LANES = 4
ASSUMED_LATENCY = 0.25  # seconds per send before one has been measured
LATENCY_WEIGHT = 0.1  # how much each measured send moves the running estimate


@dataclass
class Runtime:
    settings: Settings
    senders: SenderRegistry = field(init=False)

    latency: float = field(init=False, default=ASSUMED_LATENCY)

    def __post_init__(self) -> None:
        self.senders = SenderRegistry(self.settings)

    def observe_latency(self, seconds: float) -> None:
        """Fold one send's duration into the running estimate (an exponential average; a
        lost update between two send threads only drops one sample)."""
        self.latency += LATENCY_WEIGHT * (seconds - self.latency)

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings.database_url)
        if self.settings.env is not Environment.TEST:  # as in the web process (service.app)
            destinations.cache_destinations(engine)  # deferred texts: one lock query, no join
        return engine

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def redis(self) -> Redis:
        return connect(redis_url_for(self.settings))

    @cached_property
    def send_pool(self) -> ThreadPoolExecutor:
        """Threads that send a batch's lanes; long-lived, so their connections are reused."""
        return ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="send")

    @property
    def deferred_lanes(self) -> int:
        """Lanes a batch of deferred texts is split into by sender: one per lane process."""
        return self.settings.deferred_processes

    @cached_property
    def deferred_pool(self) -> ProcessPoolExecutor:
        """Processes that answer deferred texts, a lane of senders each
        (``HANDSUP_DEFERRED_PROCESSES``, 2 by default), spawned when the worker starts
        (``start_deferred_lanes``), never forked from this process and its threads.

        Processes, not threads: a step is mostly Python, and threads would share one CPU (the
        GIL); while one lane waits on PostgreSQL (a lock, a commit) another runs its step.
        Each holds the app's modules and an engine: about 100 MB (bench.surge)."""
        return ProcessPoolExecutor(
            max_workers=self.deferred_lanes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_lane_process,
            initargs=(self.settings,),
        )

    def start_deferred_lanes(self) -> None:
        """Start the lane processes now and wait until each is ready, rather than on the first
        batch. A lane process spawned when a surge begins imports the app at nice 10 while
        the web takes both CPUs: ``bench.surge`` saw no deferred text answered in the surge's
        first 10 s. (One call per lane, all submitted before any is answered: the pool spawns
        a process for each call that finds none idle.)"""
        calls = [self.deferred_pool.submit(lane_ready) for _ in range(self.deferred_lanes)]
        for call in calls:
            call.result()

    def restart_deferred_pool(self) -> None:
        """Drop a broken pool (a lane process died); ``start_deferred_lanes`` starts a new
        one."""
        pool = self.__dict__.pop("deferred_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    @cached_property
    def buckets(self) -> TokenBuckets:
        return TokenBuckets(self.redis, enabled=self.settings.pacing)

    def close(self) -> None:
        if "send_pool" in self.__dict__:
            self.send_pool.shutdown(wait=True)
        if "deferred_pool" in self.__dict__:
            self.deferred_pool.shutdown(wait=True)
        if "engine" in self.__dict__:
            self.engine.dispose()


_current: Runtime | None = None


def runtime() -> Runtime:
    global _current
    if _current is None:
        _current = Runtime(Settings.from_env())
    return _current


def use(settings: Settings) -> Runtime:
    """Install a runtime built from ``settings`` (tests, and the worker command)."""
    global _current
    reset()
    _current = Runtime(settings)
    return _current


def reset() -> None:
    global _current
    if _current is not None:
        _current.close()
    _current = None


def lane_ready() -> int:
    """A call a lane process answers once it has started: its pid."""
    return os.getpid()


def start_lane_process(settings: Settings) -> None:
    """A deferred-text lane process begins: its own runtime from the worker's settings. Ctrl-C
    is the worker's to handle (it stops the pool); SIGTERM ends the process, and a text it
    was answering rolls back and is answered again."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logs.configure_logging(settings.log_format)
    use(settings)
