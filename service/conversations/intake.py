"""Storing deferred texts in batches (issue 18): one transaction for every text a web process
defers while its last batch commits. Imports the stdlib, SQLAlchemy, ``service.db`` and
``service.models``.

Under surge a web process only stores each text and acknowledges it
(``service.conversations.inbound``). Stored one transaction each, a text costs four round
trips (begin, its sender's lock, the insert, the commit) and as many turns of SQLAlchemy's
machinery: two fifths of an acknowledgement's CPU in the web process, and a transaction's
work in PostgreSQL. Here the texts share them.

**How a batch forms.** A request that defers a text queues it and, when no batch is being
written, writes one itself (it leads): it takes up to ``MAX_BATCH`` queued texts in their
order of arrival, tries all their senders' locks in one statement, inserts the texts of the
senders it locked in one statement (``ON CONFLICT DO NOTHING`` on the MessageSid: a Twilio
retry is stored once), and commits. Every request of the batch then answers, and one that is
still queued leads the next. Texts arriving while a batch commits wait for the next one, so
a batch is as large as the surge makes it, and a lone text waits for no one: no timer, no
thread of its own. Under gunicorn's gevent workers the requests are greenlets and the
condition below is gevent's. When a batch fails, its texts are stored again one by one, so a
text that cannot be stored fails alone.

**The same guarantees as one text at a time.** A text is acknowledged only once its batch is
committed; one that cannot be stored (the database is down) fails its request, which answers
503 as before. Each text is inserted under its sender's lock (``inbound.sender_lock``), so it
gets its id before or after a step of that sender in a request or a lane, never during it,
and a sender's texts keep their order for the worker (``service.conversations.deferred``).
A batch never waits for a lock: a text whose sender's lock is held goes first in the next
batch, so one busy sender (a lane's step, slowed at nice 10) holds back its own texts, not
every acknowledgement of the process; nor can two batches wait on each other.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from service.db import insert_unless_present
from service.models import Message

MAX_BATCH = 200  # texts in one transaction at most

LOCK_RETRY = 0.005  # seconds before a batch whose every sender's lock was busy is tried again

# The senders' locks of a batch (``inbound.sender_lock``'s), tried in one statement without
# waiting: the locked (community, sender) pairs.
TRY_SENDER_LOCKS = text(
    "SELECT texts.community_id, texts.sender FROM ("
    " SELECT DISTINCT community_id, sender"
    " FROM unnest(CAST(:communities AS integer[]), CAST(:senders AS text[]))"
    " AS given(community_id, sender)) AS texts"
    " WHERE pg_try_advisory_xact_lock(texts.community_id, hashtext(texts.sender))"
)


@dataclass(eq=False)  # each request's own: compared by identity
class _Queued:
    """One request's text, until its batch is committed."""

    row: dict[str, object]
    sender: str
    done: bool = False
    message_id: int | None = None
    error: BaseException | None = None

    def outcome(self) -> int | None:
        if self.error is not None:
            raise self.error
        return self.message_id


@dataclass
class DeferredIntake:
    """The deferred texts of one process (one per engine), stored in batches."""

    engine: Engine
    max_batch: int = MAX_BATCH
    _queue: deque[_Queued] = field(default_factory=deque)
    _writing: bool = False
    _condition: threading.Condition = field(default_factory=threading.Condition)

    @property
    def queued(self) -> int:
        """Texts waiting for the next batch."""
        return len(self._queue)

    def store(self, row: dict[str, object], sender: str) -> int | None:
        """Store ``row`` (an inbound message's columns) with the next batch; its id once
        committed, or None when its MessageSid was stored before. Raises what the batch's
        transaction raised."""
        queued = _Queued(row, sender)
        with self._condition:
            self._queue.append(queued)
        while True:
            with self._condition:
                while self._writing and not queued.done:
                    self._condition.wait()
                if queued.done:
                    return queued.outcome()
                self._writing = True
                batch = [
                    self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))
                ]
            busy: list[_Queued] = []
            try:
                busy = _write(self.engine, batch)
            finally:
                if busy and len(busy) == len(batch):  # nothing stored: let the lock go first
                    time.sleep(LOCK_RETRY)
                with self._condition:
                    self._queue.extendleft(reversed(busy))  # first in the next batch
                    self._writing = False
                    self._condition.notify_all()


def _write(engine: Engine, batch: Sequence[_Queued]) -> list[_Queued]:
    """Store the batch and tell each of its texts how it went; returns the texts left for
    the next batch because their sender's lock was busy (never leaves one waiting else)."""
    try:
        ids, busy = _insert_once_more_if_dead(engine, batch)
    except Exception as exc:
        if len(batch) == 1:
            _fail(batch, exc)  # its request answers as when it was stored alone
            return []
        # one text may be what failed it: each alone, so only it fails
        return [left for queued in batch for left in _write(engine, [queued])]
    except BaseException as exc:  # the leader is being stopped: its batch is told first
        _fail(batch, exc)
        raise
    left = set(busy)  # by identity
    for queued in batch:
        if queued not in left:
            queued.message_id = ids.get(cast(str, queued.row["twilio_sid"]))
            queued.done = True
    return busy


def _fail(batch: Sequence[_Queued], error: BaseException) -> None:
    for queued in batch:
        queued.error, queued.done = error, True


def _insert_once_more_if_dead(
    engine: Engine, batch: Sequence[_Queued]
) -> tuple[dict[str, int], list[_Queued]]:
    """``_insert``, once more when a pooled connection turned out dead (a database restart
    since it was last used): the first try committed nothing."""
    try:
        with engine.begin() as connection:
            return _insert(connection, batch)
    except sa_exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with engine.begin() as connection:
        return _insert(connection, batch)


def _insert(
    connection: Connection, batch: Sequence[_Queued]
) -> tuple[dict[str, int], list[_Queued]]:
    """The batch's senders' locks, then the rows of the senders locked, in order: the new
    rows' ids by MessageSid, and the texts whose sender's lock is held by another
    transaction (a step of that sender in a request or a lane), for the next batch."""
    busy: list[_Queued] = []
    if connection.dialect.name == "postgresql":  # SQLite's write lock serialises every text
        found = connection.execute(
            TRY_SENDER_LOCKS,
            {
                "communities": [queued.row["community_id"] for queued in batch],
                "senders": [queued.sender for queued in batch],
            },
        )
        locked = {(community_id, sender) for community_id, sender in found}
        free: list[_Queued] = []
        for queued in batch:
            key = (queued.row["community_id"], queued.sender)
            (free if key in locked else busy).append(queued)
        batch = free
    if not batch:
        return {}, busy
    statement = _insert_statement(connection.dialect.name)
    found = connection.execute(statement, [queued.row for queued in batch])
    return {sid: message_id for message_id, sid in found}, busy


def _insert_statement(dialect_name: str) -> Any:
    """``INSERT ... ON CONFLICT (twilio_sid) DO NOTHING RETURNING id, twilio_sid``, which
    SQLAlchemy sends as one ``VALUES`` list for many rows ("insertmanyvalues"): the database
    numbers them in the order of that list (built once per dialect)."""
    statement = _INSERTS.get(dialect_name)
    if statement is None:
        statement = insert_unless_present(dialect_name, Message, "twilio_sid").returning(
            Message.id, Message.twilio_sid
        )
        _INSERTS[dialect_name] = statement
    return statement


_INSERTS: dict[str, Any] = {}
