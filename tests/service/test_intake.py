"""Deferred texts stored in batches (``service.conversations.intake``): texts deferred while a
batch commits share the next transaction, keep their order of arrival in their ids, are
stored once per MessageSid, wait for their senders' locks on PostgreSQL, and a text that
cannot be stored fails alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from service.conversations.inbound import (
    TAKE_SENDER_LOCK,
    InboundMessage,
    Location,
    MediaRef,
    inbound_row,
)
from service.conversations.intake import DeferredIntake
from service.models import (
    Channel,
    ChannelKind,
    Message,
    MessageStatus,
    Priority,
)
from tests.conftest import COMMUNITY_NUMBER, DEADLINE, wait_until


def row(channel: Channel, sender: str, sid: str, body: str = "YES") -> dict[str, object]:
    text = InboundMessage(
        sid=sid, kind=ChannelKind.SMS, sender=sender, to=COMMUNITY_NUMBER, body=body
    )
    return inbound_row(channel, text, datetime.now(UTC))


@pytest.fixture
def commits(engine: Engine) -> Iterator[list[int]]:
    """One entry per transaction committed through the engine."""
    seen: list[int] = []

    def record(connection: Any) -> None:
        seen.append(1)

    event.listen(engine, "commit", record)
    yield seen
    event.remove(engine, "commit", record)


class Stores:
    """Requests deferring texts on threads, each started once the one before is queued."""

    def __init__(self, intake: DeferredIntake) -> None:
        self.intake = intake
        self.results: dict[str, int | BaseException | None] = {}
        self.threads: list[threading.Thread] = []

    def start(self, text: dict[str, object], sender: str, queued_before: int) -> None:
        def store() -> None:
            try:
                self.results[str(text["twilio_sid"])] = self.intake.store(text, sender)
            except Exception as exc:
                self.results[str(text["twilio_sid"])] = exc

        thread = threading.Thread(target=store)
        thread.start()
        self.threads.append(thread)
        wait_until(lambda: self.intake.queued > queued_before, "the text is queued")

    def join(self) -> None:
        for thread in self.threads:
            thread.join(DEADLINE)
            assert not thread.is_alive()


@pytest.fixture
def first_batch_held(engine: Engine) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The first transaction begun through the engine waits for ``release``; ``begun`` is set
    once it is waiting, so texts can queue behind it."""
    begun, release = threading.Event(), threading.Event()

    def hold(connection: Any) -> None:
        if not begun.is_set():
            begun.set()
            assert release.wait(DEADLINE)

    event.listen(engine, "begin", hold)
    yield begun, release
    release.set()
    event.remove(engine, "begin", hold)


FIRST_SID = "SM" + "0" * 32


@pytest.fixture
def behind_a_held_batch(
    engine: Engine, channel: Channel, first_batch_held: tuple[threading.Event, threading.Event]
) -> tuple[Stores, threading.Event]:
    """An intake writing its first batch (one text, ``FIRST_SID``) and held there: texts
    started now queue for the next batch, which is written once ``release`` is set."""
    begun, release = first_batch_held
    stores = Stores(DeferredIntake(engine))
    stores.start(row(channel, "+12025550101", FIRST_SID), "+12025550101", queued_before=-1)
    assert begun.wait(DEADLINE)
    return stores, release


def stored_ids(db: Session) -> dict[str | None, int]:
    db.expire_all()
    return {sid: id_ for id_, sid in db.execute(select(Message.id, Message.twilio_sid))}


def test_texts_deferred_while_a_batch_commits_share_the_next_and_keep_their_order(
    channel: Channel,
    db: Session,
    commits: list[int],
    behind_a_held_batch: tuple[Stores, threading.Event],
) -> None:
    stores, release = behind_a_held_batch
    senders = ["+12025550102", "+12025550103", "+12025550102", "+12025550104"] * 5
    later = [row(channel, s, f"SM{n + 1:032x}") for n, s in enumerate(senders)]
    for n, (text, sender) in enumerate(zip(later, senders, strict=True)):
        stores.start(text, sender, queued_before=n)
    commits.clear()
    release.set()
    stores.join()

    assert len(commits) == 2  # the first text's transaction, then the twenty queued: one
    ids = stored_ids(db)
    assert stores.results == ids  # each request got its own row's id
    assert [ids[str(t["twilio_sid"])] for t in later] == sorted(
        ids[str(t["twilio_sid"])] for t in later
    )
    assert ids[FIRST_SID] < min(ids[str(t["twilio_sid"])] for t in later)
    statuses = set(db.scalars(select(Message.status)))
    assert statuses == {MessageStatus.RECEIVED}


def test_a_message_sid_is_stored_once_in_one_batch_or_across_two(
    channel: Channel, db: Session, behind_a_held_batch: tuple[Stores, threading.Event]
) -> None:
    stores, release = behind_a_held_batch
    twice = row(channel, "+12025550102", "SM" + "b" * 32)
    stores.start(twice, "+12025550102", 0)
    stores.start(dict(twice), "+12025550102", 1)  # Twilio's retry, in the same batch
    release.set()
    stores.join()
    assert len(stored_ids(db)) == 2
    assert stores.intake.store(dict(twice), "+12025550102") is None  # stored before: None


def test_a_text_that_cannot_be_stored_fails_alone(
    channel: Channel, db: Session, behind_a_held_batch: tuple[Stores, threading.Event]
) -> None:
    stores, release = behind_a_held_batch
    good = row(channel, "+12025550102", "SM" + "2" * 32)
    bad = {**row(channel, "+12025550103", "SM" + "3" * 32), "community_id": 999_999}  # no such
    also_good = row(channel, "+12025550104", "SM" + "4" * 32)
    for n, (text, sender) in enumerate(
        [(good, "+12025550102"), (bad, "+12025550103"), (also_good, "+12025550104")]
    ):
        stores.start(text, sender, n)
    release.set()
    stores.join()
    assert isinstance(stores.results["SM" + "3" * 32], Exception)
    ids = stored_ids(db)
    assert set(ids) == {FIRST_SID, "SM" + "2" * 32, "SM" + "4" * 32}
    assert stores.results["SM" + "2" * 32] == ids["SM" + "2" * 32]
    assert stores.results["SM" + "4" * 32] == ids["SM" + "4" * 32]


def test_a_text_waits_for_its_senders_lock_while_other_senders_are_stored_on_postgres(
    engine: Engine, channel: Channel, session_factory: sessionmaker[Session], db: Session
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the senders' locks are PostgreSQL's (SQLite's write lock serialises texts)")
    busy, free = "+12025550109", "+12025550110"
    stores = Stores(DeferredIntake(engine))
    with session_factory() as holder:  # a step of this sender's, in the webhook or a lane
        holder.execute(TAKE_SENDER_LOCK, {"community_id": channel.community_id, "sender": busy})
        stores.start(row(channel, busy, "SM" + "9" * 32), busy, -1)
        stores.start(row(channel, free, "SM" + "8" * 32), free, -1)
        wait_until(lambda: "SM" + "8" * 32 in stores.results, "the other sender's text is stored")
        assert list(stored_ids(db)) == ["SM" + "8" * 32]  # not held back by the busy sender
        assert "SM" + "9" * 32 not in stores.results  # still waiting for its sender's lock
        holder.commit()
    stores.join()
    ids = stored_ids(db)
    assert stores.results == ids
    assert ids["SM" + "9" * 32] > ids["SM" + "8" * 32]  # numbered once its lock was free


def test_a_batch_is_one_statement_outside_a_transaction_block_on_postgres(
    engine: Engine,
    channel: Channel,
    db: Session,
    statements: list[str],
    behind_a_held_batch: tuple[Stores, threading.Event],
) -> None:
    """Three round trips fewer per batch than begin, locks, insert, commit."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores a batch with its own insert, under its write lock")
    stores, release = behind_a_held_batch
    for n, sender in enumerate(["+12025550102", "+12025550103", "+12025550102"]):
        stores.start(row(channel, sender, f"SM{n + 1:032x}"), sender, n)
    statements.clear()
    release.set()
    stores.join()
    assert len(statements) == 2  # the held first batch's statement, then the next batch's
    assert all(s.startswith("WITH batch AS") for s in statements)
    assert stores.results == stored_ids(db)


def test_every_column_of_a_deferred_text_is_stored_as_given(
    channel: Channel, engine: Engine, db: Session
) -> None:
    """The batch travels as JSON on PostgreSQL: media, a location, a button's payload, quotes,
    a non-Latin body and the moments come back as the webhook's own row has them."""
    sender = "+12025550105"
    text = InboundMessage(
        sid="SM" + "c" * 32,
        kind=ChannelKind.SMS,
        sender=sender,
        to=COMMUNITY_NUMBER,
        body='Да, "yes" \\ 🙂',
        num_media=1,
        media=(MediaRef("ME" + "d" * 32, "image/jpeg"),),
        location=Location(51.5, -0.12, "1 High St", "Depot"),
        payload="shift:7",
    )
    given = inbound_row(channel, text, datetime(2026, 12, 6, 7, 30, 1, 123456, tzinfo=UTC))
    message_id = DeferredIntake(engine).store(dict(given), sender)
    db.expire_all()
    stored = db.get(Message, message_id)
    assert stored is not None
    assert {column: getattr(stored, column) for column in given} == given
    assert stored.priority == Priority.NORMAL and stored.attempts == 0
    assert stored.volunteer_id is None and stored.processed_at is None
