"""Deferred texts: the webhook stored them ``received`` under surge (or behind an earlier
waiting text of the same sender) and a worker answers them here, oldest first.

``Waker.wake`` is what the webhook calls after deferring: it pushes to a Redis list a worker
waits on, so answers start within milliseconds, once per ``WAKE_EVERY`` at most (under surge
hundreds of texts a second would each push; one wake-up takes every text ``SETTLE`` old); a
worker also looks every ``POLL`` seconds, so a text deferred while Redis was down, or left by
a killed worker, is answered anyway.
``answer_waiting`` answers one batch, each text in its own transaction under its volunteer's
row lock (``inbound.answer_stored``): several workers may run it at once, a text is answered
exactly once, and a sender's texts in the order they were stored.

A text is taken once it is ``SETTLE`` old: two texts of one sender in flight together may
commit in either order, and the short wait lets the earlier one land first.

Imports SQLAlchemy, redis, ``service.db``, ``service.models`` and
``service.conversations.inbound``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.conversations.inbound import UNANSWERABLE, WaitingText, answer_stored
from service.db import is_database_unavailable
from service.models import Direction, Message, MessageStatus, is_waiting

log = logging.getLogger(__name__)

WAKE_KEY = "handsup:deferred-texts"  # a Redis list: the webhook pushes, a worker pops
POLL = 1.0  # seconds a worker waits for a wake-up before it looks anyway
SETTLE = timedelta(milliseconds=300)
BATCH = 200
WAKE_EVERY = 0.1  # seconds: the least time between two wake-ups from one web process
AFTER_WAKE = SETTLE.total_seconds() + WAKE_EVERY  # seconds a woken worker waits, then looks


class Waker:
    """One web process's wake-ups of a waiting worker (best effort: it polls anyway).

    A wake-up within ``WAKE_EVERY`` of the last is skipped: the worker it woke waits
    ``SETTLE`` + ``WAKE_EVERY`` (``AFTER_WAKE``) before it looks, so every text stored
    meanwhile, this one too, is ``SETTLE`` old by then and taken.
    """

    def __init__(self, every: float = WAKE_EVERY, clock: Callable[[], float] = time.monotonic):
        self.every = every
        self.clock = clock
        self.last = -math.inf

    def wake(self, redis: Redis) -> None:
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last = now
        try:
            redis.lpush(WAKE_KEY, 1)
        except RedisError as exc:
            log.warning("deferred texts: could not wake a worker (%s); it will poll", exc)


def wait_for_wake(redis: Redis, timeout: float = POLL) -> None:
    """Block until the webhook wakes this worker or ``timeout`` passes; then clear the list
    (one look answers every text deferred so far)."""
    if redis.blpop([WAKE_KEY], timeout=timeout) is not None:
        redis.delete(WAKE_KEY)


def waiting_ids(
    session: Session, now: datetime, settle: timedelta = SETTLE, limit: int = BATCH
) -> list[int]:
    """The oldest deferred texts stored at least ``settle`` ago, in the order they were
    stored."""
    return [row.id for row in _waiting(session, now, settle, limit)]


def _waiting(session: Session, now: datetime, settle: timedelta, limit: int) -> list[Any]:
    return list(session.execute(waiting_statement(now, settle, limit)))


def waiting_statement(now: datetime, settle: timedelta, limit: int) -> Select[int, int, str]:
    """The oldest ``limit`` texts waiting since ``settle`` before ``now``: id, community and
    sender (read through ``ix_messages_received``, which holds the waiting rows only)."""
    return (
        select(Message.id, Message.community_id, Message.from_address)
        .where(
            is_waiting(),
            Message.direction == Direction.INBOUND,
            Message.created_at <= now - settle,
        )
        .order_by(Message.id)
        .limit(limit)
    )


def answer_waiting(
    factory: sessionmaker[Session],
    now: datetime,
    *,
    settle: timedelta = SETTLE,
    pool: Executor | None = None,
    lanes: int = 1,
    answer_lane: Callable[[list[WaitingText]], int] | None = None,
) -> int:
    """Answer one batch of the texts deferred by ``now``, each at the clock's time when its
    turn comes; returns how many were answered (a burst worker passes
    ``settle=timedelta(0)``: nothing else is arriving).

    With a ``pool``, the batch is split into ``lanes`` by sender, each lane answering its
    senders' texts in order while the others run: one sender's texts are always in one lane.
    ``answer_lane`` answers one lane's texts (``answer_in_order`` on ``factory`` by default);
    a process pool needs a function of its own, one that its processes can import.
    """
    answer = answer_lane or partial(answer_in_order, factory)
    with factory() as session:
        rows = _waiting(session, now, settle, BATCH)
    by_lane: list[list[WaitingText]] = [[] for _ in range(max(1, lanes))]
    for row in rows:
        text = WaitingText(row.id, row.community_id, row.from_address)
        by_lane[hash((text.community_id, text.from_address)) % len(by_lane)].append(text)
    if pool is None:
        return sum(answer(texts) for texts in by_lane)
    futures = [pool.submit(answer, texts) for texts in by_lane if texts]
    return sum(future.result() for future in futures)


def answer_in_order(factory: sessionmaker[Session], texts: list[WaitingText]) -> int:
    """Answer these deferred texts one by one, each in its own transaction.

    A text whose step raises is marked processed for a coordinator to read (the inbox), so
    it never blocks its sender's later texts; an unreachable database is raised, and the
    text waits for the next look.
    """
    answered = 0
    for text in texts:
        with factory() as session:
            try:
                answered += answer_stored(session, text, clock.now())
            except Exception as exc:
                session.rollback()
                if is_database_unavailable(exc):
                    raise
                log.exception("deferred text %d failed; handed to the coordinators", text.id)
                _set_aside(session, text.id)
    return answered


def _set_aside(session: Session, message_id: int) -> None:
    message = session.get(Message, message_id)
    if message is not None and message.status == MessageStatus.RECEIVED:
        message.status = MessageStatus.PROCESSED
        message.processed_at = clock.now()
        message.attention = UNANSWERABLE
    session.commit()
