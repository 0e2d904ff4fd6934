"""Storing deferred texts in batches (issue 18): one transaction for every text a web process
defers while its last batch commits. Imports the stdlib, SQLAlchemy, ``service.db`` and
``service.models``.

Under surge a web process only stores each text and acknowledges it
(``service.conversations.inbound``). Stored one transaction each, a text costs four round
trips (begin, its sender's lock, the insert, the commit) and as many turns of SQLAlchemy's
machinery: two fifths of an acknowledgement's CPU in the web process, and a transaction's
work in PostgreSQL. Here the texts share them, and on PostgreSQL a batch is one round trip:
one statement (``store_batch_statement``) tries the senders' locks and inserts the texts of
the senders it locked, outside a transaction block, so it is its own transaction (no BEGIN,
no COMMIT), and its text never changes with the batch's size, so psycopg prepares it once
(the batch goes as one JSON parameter). Its locks are held until that statement's end, as a
transaction's.

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
503 as before. Each text is inserted under its sender's lock
(``inbound.SENDER_LOCK_COLUMN``), so it gets its id before or after a step of that sender in
a request or a lane, never during it,
and a sender's texts keep their order for the worker (``service.conversations.deferred``).
A batch never waits for a lock: a text whose sender's lock is held goes first in the next
batch, so one busy sender (a lane's step, slowed at nice 10) holds back its own texts, not
every acknowledgement of the process; nor can two batches wait on each other.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from service.db import insert_unless_present
from service.models import Message

MAX_BATCH = 200  # texts in one transaction at most

LOCK_RETRY = 0.005  # seconds before a batch whose every sender's lock was busy is tried again


@cache  # one per set of columns: every row is ``inbound.inbound_row``'s
def store_batch_statement(columns: tuple[str, ...]) -> Any:
    """PostgreSQL: a batch of texts (a JSON array of their rows' columns, each with its
    ``sender``) stored in one statement. It tries each (community, sender) pair's lock (the
    one ``inbound.SENDER_LOCK_COLUMN`` takes) without waiting, once per pair, then inserts the
    rows of the pairs it locked in the batch's order, so their ids follow it (PostgreSQL evaluates a
    volatile default such as the id's ``nextval`` after the sort, as SQLAlchemy's own
    ordered multi-row insert relies on), skipping a MessageSid stored before. It answers one
    row per locked pair (``id`` NULL) and one per inserted text (``sender`` NULL)."""
    known = [Message.__table__.c[name].name for name in columns]  # only the table's columns
    names = ", ".join(known)
    fields = ", ".join(f"fields.{name}" for name in known)
    # the identifiers are the model's own column names, checked above
    return text(
        "WITH batch AS ("  # noqa: S608
        " SELECT given.value AS doc, given.ordinality AS position,"
        " CAST(given.value->>'community_id' AS integer) AS community_id,"
        " given.value->>'sender' AS sender"
        " FROM json_array_elements(CAST(:batch AS json)) WITH ORDINALITY AS given),"
        " locked AS ("
        " SELECT pairs.community_id, pairs.sender"
        " FROM (SELECT DISTINCT community_id, sender FROM batch) AS pairs"
        " WHERE pg_try_advisory_xact_lock(pairs.community_id, hashtext(pairs.sender))),"
        " stored AS ("
        f" INSERT INTO messages ({names})"
        f" SELECT {fields} FROM batch JOIN locked USING (community_id, sender)"
        " CROSS JOIN LATERAL json_populate_record(NULL::messages, batch.doc) AS fields"
        " ORDER BY batch.position"
        " ON CONFLICT (twilio_sid) DO NOTHING"
        " RETURNING id, twilio_sid)"
        " SELECT NULL::integer AS id, NULL::varchar AS twilio_sid, community_id, sender"
        " FROM locked"
        " UNION ALL SELECT id, twilio_sid, NULL, NULL FROM stored"
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
    # What batches are written through: on PostgreSQL the engine outside a transaction
    # block, as a batch is one statement of its own (``_insert``)
    _writer: Engine = field(init=False)
    _queue: deque[_Queued] = field(default_factory=deque)
    _writing: bool = False
    _condition: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self._writer = self.engine
        if self.engine.dialect.name == "postgresql":
            self._writer = self.engine.execution_options(isolation_level="AUTOCOMMIT")

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
                busy = _write(self._writer, batch)
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
    if connection.dialect.name != "postgresql":  # SQLite's write lock serialises every text
        found = connection.execute(_sqlite_insert(), [queued.row for queued in batch])
        return {sid: message_id for message_id, sid in found}, []
    statement = store_batch_statement(tuple(batch[0].row))
    rows = [{**queued.row, "sender": queued.sender} for queued in batch]
    found = connection.execute(
        statement, {"batch": json.dumps(rows, default=_json_value, ensure_ascii=False)}
    )
    ids: dict[str, int] = {}
    locked: set[tuple[object, str]] = set()
    for message_id, sid, community_id, sender in found:
        if message_id is None:
            locked.add((community_id, sender))
        else:
            ids[sid] = message_id
    busy = [queued for queued in batch if (queued.row["community_id"], queued.sender) not in locked]
    return ids, busy


def _json_value(value: object) -> object:
    """A column value JSON cannot hold as it is: a datetime (aware, UTC) as ISO 8601."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot store {type(value).__name__} in a deferred text's row")


@cache
def _sqlite_insert() -> Any:
    """``INSERT ... ON CONFLICT (twilio_sid) DO NOTHING RETURNING id, twilio_sid``, which
    SQLAlchemy sends as one ``VALUES`` list for many rows ("insertmanyvalues"): the database
    numbers them in the order of that list (built once)."""
    return insert_unless_present("sqlite", Message, "twilio_sid").returning(
        Message.id, Message.twilio_sid
    )
