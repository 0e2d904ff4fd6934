"""Per-process resources for jobs: settings, a session factory, Redis, the pacing buckets and
the sender registry.

Built on first use (never at import) and reset with ``reset()`` in tests, so a job needs no
Flask app context. One database session per job.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.db import make_engine, make_session_factory
from service.redis_conn import connect, redis_url_for
from service.sending.pacing import TokenBuckets
from workers.senders import SenderRegistry

# Concurrent sends per batch: Twilio takes 100-300 ms to answer, so one at a time would hold a
# worker to a few messages a second, below what a short code or a WhatsApp sender may send.
# A batch uses as many lanes as its senders' rates times Twilio's latency need
# (``workers.dispatch.lanes_for``), at least ``MIN_SEND_LANES`` and at most ``SEND_THREADS``.
SEND_THREADS = 48
MIN_SEND_LANES = 4
# Deferred texts (the webhook's surge) are answered in this many lanes, split by sender: while
# one lane waits on PostgreSQL (a lock, a commit) another runs its step.
DEFERRED_LANES = 4
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
        return make_engine(self.settings.database_url)

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

    @cached_property
    def deferred_pool(self) -> ThreadPoolExecutor:
        """Threads that answer deferred texts, a lane of senders each (``DEFERRED_LANES``)."""
        return ThreadPoolExecutor(max_workers=DEFERRED_LANES, thread_name_prefix="deferred")

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
