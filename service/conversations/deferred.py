"""Deferred texts: the webhook stored them ``received`` under surge (or behind an earlier
waiting text of the same sender) and a worker answers them here, oldest first.

``wake`` is what the webhook calls after deferring: it pushes to a Redis list a worker waits
on, so answers start within milliseconds; a worker also looks every ``POLL`` seconds, so a
text deferred while Redis was down, or left by a killed worker, is answered anyway.
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
from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.conversations.inbound import UNANSWERABLE, answer_stored
from service.db import is_database_unavailable
from service.models import Direction, Message, MessageStatus

log = logging.getLogger(__name__)

WAKE_KEY = "handsup:deferred-texts"  # a Redis list: the webhook pushes, a worker pops
POLL = 1.0  # seconds a worker waits for a wake-up before it looks anyway
SETTLE = timedelta(milliseconds=300)
BATCH = 200


def wake(redis: Redis) -> None:
    """Tell a waiting worker there is a deferred text (best effort: it polls anyway)."""
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
    return list(
        session.scalars(
            select(Message.id)
            .where(
                Message.status == MessageStatus.RECEIVED,
                Message.direction == Direction.INBOUND,
                Message.created_at <= now - settle,
            )
            .order_by(Message.id)
            .limit(limit)
        )
    )


def answer_waiting(
    factory: sessionmaker[Session], now: datetime, *, settle: timedelta = SETTLE
) -> int:
    """Answer one batch of the texts deferred by ``now``, each at the clock's time when its
    turn comes; returns how many were answered (a burst worker passes
    ``settle=timedelta(0)``: nothing else is arriving).

    A text whose step raises is marked processed for a coordinator to read (the inbox), so
    it never blocks its sender's later texts; an unreachable database is raised, and the
    text waits for the next look.
    """
    with factory() as session:
        ids = waiting_ids(session, now, settle)
    answered = 0
    for message_id in ids:
        with factory() as session:
            try:
                answered += answer_stored(session, message_id, clock.now())
            except SQLAlchemyError as exc:
                session.rollback()
                if is_database_unavailable(exc):
                    raise
                log.exception("deferred text %d failed; handed to the coordinators", message_id)
                _set_aside(session, message_id, now)
            except Exception:
                session.rollback()
                log.exception("deferred text %d failed; handed to the coordinators", message_id)
                _set_aside(session, message_id, now)
    return answered


def _set_aside(session: Session, message_id: int, now: datetime) -> None:
    message = session.get(Message, message_id)
    if message is not None and message.status == MessageStatus.RECEIVED:
        message.status = MessageStatus.PROCESSED
        message.processed_at = now
        message.attention = UNANSWERABLE
    session.commit()
