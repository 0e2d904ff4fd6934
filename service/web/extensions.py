"""Per-app resources (database session factory, Redis) and the per-request session.

``create_app`` builds them once; views reach them through the helpers here, so nothing is
built at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from flask import Flask, current_app, g
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.conversations.deferred import Waker
from service.conversations.intake import DeferredIntake
from service.conversations.surge import SurgeGauge
from service.redis_conn import connect
from service.sending import TokenBuckets

EXTENSION_KEY = "handsup"


@dataclass
class Resources:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    redis_url: str
    _redis: Redis | None = None
    # In-flight inbound webhooks of this process: when to defer texts to a worker.
    surge: SurgeGauge = field(default_factory=SurgeGauge)
    # Its wake-ups of a worker for deferred texts (one per ``deferred.WAKE_EVERY`` s at most).
    waker: Waker = field(default_factory=Waker)
    # Where it stores the texts it defers, in batches.
    intake: DeferredIntake = field(init=False)

    def __post_init__(self) -> None:
        self.intake = DeferredIntake(self.engine)

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = connect(self.redis_url)
        return self._redis

    @cached_property
    def buckets(self) -> TokenBuckets:
        return TokenBuckets(self.redis, enabled=self.settings.pacing)


def resources(app: Flask | None = None) -> Resources:
    res: Resources = (app or current_app).extensions[EXTENSION_KEY]
    return res


def db_session() -> Session:
    """The request's session, created on first use and closed when the request ends."""
    if "db_session" not in g:
        g.db_session = resources().session_factory()
    session: Session = g.db_session
    return session


def close_db_session(exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()
