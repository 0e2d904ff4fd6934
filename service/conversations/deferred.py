"""Deferred texts: the webhook stored them ``received`` under surge (or behind an earlier
waiting text of the same sender) and a worker answers them here, oldest first.

``Waker.wake`` is what the webhook calls after deferring: it pushes to a Redis list a worker
waits on, so answers start within milliseconds, once per ``WAKE_EVERY`` at most (under surge
hundreds of texts a second would each push; one wake-up takes every text ``SETTLE`` old); a
worker also looks every ``POLL`` seconds, so a text deferred while Redis was down, or left by
a killed worker, is answered anyway.
``answer_waiting`` answers them in lanes by sender, a lane taking its next texts as soon as it
finishes a turn, each text in its own transaction under its volunteer's row lock
(``inbound.answer_stored``): several workers may run it at once, a text is answered exactly
once, and a sender's texts in the order they were stored.

A text is taken once it is ``SETTLE`` old: two texts of one sender in flight together may
commit in either order, and the short wait lets the earlier one land first.

Imports SQLAlchemy, redis, ``service.db``, ``service.models`` and
``service.conversations.inbound``.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
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
    after_lane: Callable[[], object] | None = None,
) -> int:
    """Answer the texts deferred by ``now``, each at the clock's time when its turn comes;
    returns how many were answered (a burst worker passes ``settle=timedelta(0)``: nothing
    else is arriving).

    Without a ``pool``: one batch, in this thread. With one, the texts are split into
    ``lanes`` by sender (``lane_of``: one sender's texts always in one lane), and each lane
    answers its senders' texts in order while the others run. A lane that finishes gets the
    next texts of its senders at once, whatever the other lanes are doing (no lane waits for
    the slowest of a batch: in ``bench.surge`` that wait was 8 % of the lanes' time), until a
    look finds none for it, or its last turn answered none (they wait behind a text still
    being answered elsewhere, and the next wake-up takes them). ``answer_lane`` answers one
    lane's texts (``answer_in_order`` on ``factory`` by default); a process pool needs a
    function of its own, one that its processes can import. ``after_lane`` runs in this
    thread after each lane's turn (the worker hands the replies to the send jobs there).
    """
    answer = answer_lane or partial(answer_in_order, factory)
    if pool is None:
        with factory() as session:
            rows = _waiting(session, now, settle, BATCH)
        return answer([WaitingText(row.id, row.community_id, row.from_address) for row in rows])
    count = max(1, lanes)
    running: dict[Future[int], int] = {}  # a lane's turn -> its lane
    stuck: set[int] = set()  # lanes whose last turn answered nothing
    answered = 0
    while True:
        idle = set(range(count)) - stuck - set(running.values())
        if idle:  # texts stored since ``now`` are taken too, once ``settle`` old
            look = max(now, clock.now())
            for lane, texts in _next_turns(factory, look, settle, count, idle).items():
                running[pool.submit(answer, texts)] = lane
        if not running:
            return answered
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for turn in finished:
            lane = running.pop(turn)
            done = turn.result()
            answered += done
            if not done:
                stuck.add(lane)
            if after_lane is not None:
                after_lane()


def lane_of(text: WaitingText, lanes: int) -> int:
    """The lane a sender's texts go to: the same in every process and run (a CRC of the
    community and the sender, not Python's per-process ``hash``)."""
    return zlib.crc32(f"{text.community_id}:{text.from_address}".encode()) % lanes


def _next_turns(
    factory: sessionmaker[Session], now: datetime, settle: timedelta, lanes: int, idle: set[int]
) -> dict[int, list[WaitingText]]:
    """The next texts of each idle lane that has any, oldest first: up to ``BATCH`` each,
    from one look at the oldest ``BATCH`` x ``lanes`` (a busy lane's texts among them are
    left for its next turn)."""
    with factory() as session:
        rows = _waiting(session, now, settle, BATCH * lanes)
    turns: dict[int, list[WaitingText]] = {}
    for row in rows:
        text = WaitingText(row.id, row.community_id, row.from_address)
        lane = lane_of(text, lanes)
        if lane in idle and len(turns.setdefault(lane, [])) < BATCH:
            turns[lane].append(text)
    return {lane: texts for lane, texts in turns.items() if texts}


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
