"""The dispatcher: hands due outbound messages to send jobs in batches, paced per sender.

An outbound ``Message`` row is its own outbox entry. ``dispatch_due`` selects due ``pending``
rows that no job holds (never handed over, or handed over so long ago that the job must have
been lost), highest priority first; takes a token for each from the bucket of the row's current
channel (shared by every process through Redis), so a long code is not burst; and enqueues one
``workers.dispatch.send_batch`` job per batch on the queue of the batch's priority. When
Redis is down the rows stay as they are and the next run hands them over.

A send that leaves by another sender than the row's channel (an SMS fallback) is paced on that
sender by ``service.sending.planning``. Called by the worker's pump every second and after a
web request commits. Names jobs by dotted path: this module never imports ``workers``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.db import take_sqlite_write_lock, unit_of_work
from service.models import Channel, Community, Direction, Message, MessageStatus, Priority
from service.sending.gate import Sender, sender_for
from service.sending.pacing import Rate, TokenBuckets

log = logging.getLogger(__name__)

SEND_BATCH_JOB = "workers.dispatch.send_batch"
# Messages per send job: four times the 96 sends the worker keeps in flight
# (``workers.runtime.SEND_THREADS``). A job's claim, plan and record run between its sends, and
# its last sends leave lanes idle while the slowest finish, so a bigger batch spreads both over
# more sends. One worker at 2000/s and 200 ms (``bench.broadcast --rate 2000``, 2026-12-07):
# 266-270 sends/s with 200 a job, 312-318/s with 384, 339/s with 576 (longer jobs, less gain).
# With 100, replies to a surge left the worker 40 s after its texts were answered (issue 18).
BATCH_SIZE = 384
REFILL_SHARE = 0.75  # of a batch, see refill_wait
SCAN_LIMIT = 5000  # rows considered per run; the next run takes the rest
# A row handed to a job that has not claimed it by then is handed over again (the job was
# lost with a Redis flush, or its worker died between dequeue and claim). Claims are atomic,
# so a second hand-over never sends twice.
STALE_AFTER = timedelta(seconds=45)
QUEUE_BY_PRIORITY = {Priority.URGENT: "replies", Priority.NORMAL: "default", Priority.BULK: "bulk"}
JOB_TIMEOUT = 1200  # seconds: a batch whose every send times out (10 s) in 4 lanes still finishes
# PostgreSQL's transaction lock (one 64-bit key, apart from the senders' two-key locks) that
# lets one hand-over run at a time; see ``one_dispatch_at_a_time``.
DISPATCH_LOCK = 0x48_55_64_69_73_70  # "HUdisp"


@dataclass(frozen=True)
class DispatchReport:
    enqueued: int = 0  # messages handed to send jobs
    held_back: int = 0  # due but over their sender's rate: the next run takes them
    retry_after: float | None = None  # seconds until a held-back sender has a token again


def dispatch_due(
    factory: sessionmaker[Session],
    redis: Redis,
    buckets: TokenBuckets | None = None,
    now: datetime | None = None,
    *,
    wait: bool = True,
) -> DispatchReport:
    """Hand due messages to send jobs; ``buckets`` None means no pacing (tests, one-offs).

    ``wait=False`` (the web, after a request): when another hand-over is running, hand over
    nothing rather than wait for it; the worker's pump takes the rows within a second."""
    now = now or clock.now()
    with unit_of_work(factory) as session:
        if not one_dispatch_at_a_time(session, wait=wait):
            return DispatchReport()
        rows = session.execute(
            select(Message.id, Message.channel_id, Message.priority)
            .where(
                due(now),
                or_(Message.enqueued_at.is_(None), Message.enqueued_at < now - STALE_AFTER),
            )
            .order_by(Message.priority, Message.not_before, Message.id)
            .limit(SCAN_LIMIT)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return DispatchReport()
        candidates = [(row.id, row.channel_id, row.priority) for row in rows]
        chosen, held_back, retry_after = _pace(session, candidates, buckets)
        enqueued = _enqueue(session, redis, chosen, now)
    return DispatchReport(enqueued, held_back + len(chosen) - enqueued, retry_after)


def one_dispatch_at_a_time(session: Session, *, wait: bool = True) -> bool:
    """Wait until no other hand-over is running (until its commit), in every process; with
    ``wait=False``, return False at once if one is.

    Two at once would each skip the rows the other has locked, and the one that started later
    could queue its job first: a volunteer's second reply then went to a job that ran before
    the job holding the first, which was sent a second later (``bench.surge``, 2026-12-07,
    three volunteers of 5,000; the worker's pump and its deferred-text lanes both hand over).
    One after another, a row is handed over by the first run that sees it, and jobs queue in
    the order of their rows. SQLite's write lock serialises the hand-overs already.

    The web does not wait: the worker that holds the lock runs at nice 10, and a request
    would wait for it while the web itself keeps it from the CPU."""
    if session.get_bind().dialect.name != "postgresql":
        take_sqlite_write_lock(session)
        return True
    if wait:
        session.execute(select(func.pg_advisory_xact_lock(DISPATCH_LOCK)))
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(DISPATCH_LOCK))))


def due(now: datetime) -> ColumnElement[bool]:
    """An outbound message waiting to be sent whose time has come (handed over or not)."""
    return and_(
        Message.status == MessageStatus.PENDING,
        Message.direction == Direction.OUTBOUND,
        Message.not_before <= now,
    )


def _pace(
    session: Session, rows: list[tuple[int, int | None, int]], buckets: TokenBuckets | None
) -> tuple[list[tuple[int, int]], int, float | None]:
    """The (id, priority) rows whose sender has a token now, in dispatch order."""
    if buckets is None or not buckets.enabled:
        return [(row[0], row[2]) for row in rows], 0, None
    senders = senders_of(session, {row[1] for row in rows if row[1] is not None})
    wanted: dict[int | None, int] = defaultdict(int)
    for _, channel_id, _ in rows:
        wanted[channel_id] += 1
    granted: dict[int | None, int] = {}
    retry_after: float | None = None
    for channel_id, count in wanted.items():
        sender = senders.get(channel_id) if channel_id is not None else None
        if sender is None:  # no channel: the send job records the failure, no token needed
            granted[channel_id] = count
            continue
        # The bucket of the row's current channel; a send job that sends by another route
        # (an SMS fallback) takes that route's token itself (service.sending.planning).
        grant = buckets.take_from(sender.bucket, count)
        granted[channel_id] = grant.granted
        if grant.granted < count:
            wait = max(grant.retry_after, refill_wait(sender.bucket.rate, count - grant.granted))
            retry_after = wait if retry_after is None else min(retry_after, wait)
    chosen: list[tuple[int, int]] = []
    for message_id, channel_id, priority in rows:
        if granted[channel_id] > 0:
            granted[channel_id] -= 1
            chosen.append((message_id, priority))
    return chosen, len(rows) - len(chosen), retry_after


def refill_wait(rate: Rate, waiting: int) -> float:
    """How long the pump lets a held-back sender's bucket refill before the next hand-over:
    until it holds ``REFILL_SHARE`` of a batch (or of what waits, or of its burst). A send job
    takes at least one Twilio round trip whatever its size, so handing over the few tokens a
    tenth of a second brings would hold a fast sender far below its rate; waiting for the
    bucket to fill completely could lose tokens to its cap when the pump is late."""
    return REFILL_SHARE * min(BATCH_SIZE, waiting, rate.burst) / rate.per_second


def senders_of(session: Session, channel_ids: set[int]) -> dict[int | None, Sender]:
    """Each channel's sender and bucket (a Messaging Service paces as one sender)."""
    found = session.execute(
        select(Channel, Community.messaging_service_sid)
        .join(Community, Community.id == Channel.community_id)
        .where(Channel.id.in_(channel_ids))
    ).all()
    return {channel.id: sender_for(channel, service_sid) for channel, service_sid in found}


def _enqueue(session: Session, redis: Redis, chosen: list[tuple[int, int]], now: datetime) -> int:
    """One job per batch of the same priority; marks each batch as handed over."""
    by_priority: dict[int, list[int]] = defaultdict(list)
    for message_id, priority in chosen:
        by_priority[priority].append(message_id)
    enqueued = 0
    try:
        for priority in sorted(by_priority):
            ids = by_priority[priority]
            queue = Queue(_queue_name(priority), connection=redis)
            for start in range(0, len(ids), BATCH_SIZE):
                batch = ids[start : start + BATCH_SIZE]
                queue.enqueue(SEND_BATCH_JOB, batch, job_timeout=JOB_TIMEOUT)
                session.execute(
                    update(Message)
                    .where(Message.id.in_(batch))
                    .values(enqueued_at=now)
                    .execution_options(synchronize_session=False)
                )
                enqueued += len(batch)
    except RedisError as exc:
        log.warning(
            "dispatch: Redis unavailable, %d message(s) wait: %s", len(chosen) - enqueued, exc
        )
    return enqueued


def _queue_name(priority: int) -> str:
    try:
        return QUEUE_BY_PRIORITY[Priority(priority)]
    except ValueError:
        return QUEUE_BY_PRIORITY[Priority.BULK]
