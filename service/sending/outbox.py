"""The transactional outbox: rows written with a state change, enqueued to RQ after commit.

Two kinds of rows: ``OutboxItem`` (a job to run: a reminder, a call-out wave) and outbound
``Message`` rows (a text to send, handed over by ``service.sending.dispatcher``). ``add`` runs
inside the caller's transaction. ``enqueue_due`` hands both to RQ; ``hand_over`` calls it
after a web request or a CLI command commits, and the worker's pump calls it periodically, so
a row whose first enqueue failed (Redis down) or whose job vanished is enqueued again. Jobs are
named by dotted path: this module never imports ``workers``. Imports redis, rq, SQLAlchemy,
``service.models`` and the plumbing (config, db, redis_conn).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import Table, event, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.config import Settings
from service.db import (
    describe_error,
    insert_id_unless_present,
    is_database_unavailable,
    make_engine,
    make_session_factory,
    unit_of_work,
)
from service.models import Message, MessageStatus, OutboxItem
from service.redis_conn import connect, redis_url_for
from service.sending import dispatcher
from service.sending.pacing import TokenBuckets

log = logging.getLogger(__name__)

RUN_ITEM_JOB = "workers.outbox.run_item"
QUEUES = ("replies", "default", "bulk")  # highest priority first
STALE_AFTER = timedelta(minutes=5)
BATCH = 500


OUTBOX = cast(Table, OutboxItem.__table__)


def add(
    session: Session,
    *,
    job: str,
    payload: dict[str, Any],
    dedupe_key: str,
    queue: str = "default",
    available_at: datetime | None = None,
) -> OutboxItem:
    item = OutboxItem(**_row(job, payload, dedupe_key, queue, available_at))
    session.add(item)
    return item


def _row(
    job: str, payload: dict[str, Any], dedupe_key: str, queue: str, available_at: datetime | None
) -> dict[str, Any]:
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    return {
        "job": job,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "queue": queue,
        "available_at": available_at or clock.now(),
    }


def add_unless_present(
    session: Session,
    *,
    job: str,
    payload: dict[str, Any],
    dedupe_key: str,
    queue: str = "default",
    available_at: datetime | None = None,
) -> bool:
    """``add``, unless a row with ``dedupe_key`` exists (or is being added by a concurrent
    transaction, which then wins): one ``INSERT ... ON CONFLICT DO NOTHING`` at once, not a
    lookup and a flush. True when this call added the row."""
    row = _row(job, payload, dedupe_key, queue, available_at)
    statement = insert_id_unless_present(session.get_bind().dialect.name, OUTBOX, "dedupe_key")
    added = session.execute(statement, row).first()
    if added is not None and row["available_at"] <= clock.now():
        note_due_work(session)  # a Core insert: the flush's note never sees it
    return added is not None


HANDOVER_KEY = "handsup_due_now"  # in Session.info: this unit of work queued work due now


def track_due_work(factory: sessionmaker[Session]) -> None:
    """Note in each session whether it queued an outbox item or a message that is due now.

    A webhook hands the outbox over only then: most texts queue nothing due (a menu, a
    claim whose reminders are days away), and scanning for due rows on every request costs
    more than the request itself. Anything not handed over goes with the worker's pump.
    """

    @event.listens_for(factory, "before_flush")
    def _note(session: Session, _context: object, _instances: object) -> None:
        if session.info.get(HANDOVER_KEY):
            return
        horizon = clock.now()
        for obj in session.new:
            if (isinstance(obj, OutboxItem) and (obj.available_at or horizon) <= horizon) or (
                isinstance(obj, Message)
                and obj.status == MessageStatus.PENDING
                and (obj.not_before or horizon) <= horizon
            ):
                session.info[HANDOVER_KEY] = True
                return


def note_due_work(session: Session) -> None:
    """Note that this session queued work due now with a Core statement, which the flush
    (``track_due_work``) never sees."""
    session.info[HANDOVER_KEY] = True


def queued_due_work(session: Session) -> bool:
    """Whether this session queued work due now (see ``track_due_work``); resets the note."""
    return bool(session.info.pop(HANDOVER_KEY, False))


def enqueue_due(
    factory: sessionmaker[Session],
    redis: Redis,
    now: datetime | None = None,
    buckets: TokenBuckets | None = None,
    *,
    wait: bool = True,
) -> int:
    """Enqueue due jobs and dispatch due messages (paced by ``buckets`` when given).

    Returns how many rows were handed to RQ. Redis errors are logged and leave the rows for
    later. ``wait=False``: messages are not handed over while another hand-over runs
    (``dispatcher.dispatch_due``).
    """
    now = now or clock.now()
    return enqueue_due_items(factory, redis, now) + (
        dispatcher.dispatch_due(factory, redis, buckets, now, wait=wait).enqueued
    )


class Connections(Protocol):
    """What ``hand_over`` needs of a long-lived process (the web app's resources)."""

    @property
    def session_factory(self) -> sessionmaker[Session]: ...
    @property
    def redis(self) -> Redis: ...
    @property
    def buckets(self) -> TokenBuckets: ...


def hand_over(source: Settings | Connections) -> int:
    """Hand what a request or a command just committed (jobs and messages due now) to RQ at
    once, paced like the pump; the worker's pump takes whatever this misses.

    ``source`` is the web app's connections, or the settings of a one-off command (its
    connections are opened for the call and closed). The work is already committed, so a
    database that went away meanwhile is no reason to fail the caller: it is logged and the
    rows wait for the pump. Returns how many rows were handed over. The web does not wait for
    a hand-over already running (the worker's): its rows are left to the pump.
    """
    if isinstance(source, Settings):
        engine = make_engine(source.database_url)
        redis = connect(redis_url_for(source))
        try:
            buckets = TokenBuckets(redis, enabled=source.pacing)
            return _hand_over(make_session_factory(engine), redis, buckets, wait=True)
        finally:
            redis.close()
            engine.dispose()
    return _hand_over(source.session_factory, source.redis, source.buckets, wait=False)


def _hand_over(
    factory: sessionmaker[Session], redis: Redis, buckets: TokenBuckets, *, wait: bool
) -> int:
    try:
        return enqueue_due(factory, redis, buckets=buckets, wait=wait)
    except SQLAlchemyError as exc:
        if not is_database_unavailable(exc):
            raise
        log.warning("outbox: hand-over skipped, database unavailable (%s)", describe_error(exc))
        return 0


def enqueue_due_items(factory: sessionmaker[Session], redis: Redis, now: datetime) -> int:
    """Enqueue due ``OutboxItem`` rows not yet enqueued (or enqueued long ago, unfinished)."""
    queues = {name: Queue(name, connection=redis) for name in QUEUES}
    with unit_of_work(factory) as session:
        rows = session.scalars(
            select(OutboxItem)
            .where(
                OutboxItem.done_at.is_(None),
                OutboxItem.available_at <= now,
                or_(OutboxItem.enqueued_at.is_(None), OutboxItem.enqueued_at < now - STALE_AFTER),
            )
            .order_by(OutboxItem.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        count = 0
        try:
            for item in rows:
                queues[item.queue].enqueue(
                    RUN_ITEM_JOB, item.id, job_id=f"outbox-{item.id}-{item.attempts}"
                )
                item.enqueued_at = now
                item.attempts += 1
                count += 1
        except RedisError as exc:
            log.warning("outbox: Redis unavailable, %d row(s) wait: %s", len(rows) - count, exc)
        return count
