"""The sender's lock on PostgreSQL (``inbound.SENDER_LOCK_COLUMN``) is part of the statement
that follows it, not one of its own: the webhook's insert of the text and a worker's claim
of a deferred text (an UPDATE joined to the lock's one-row CTE) each take it first, in the
same round trip, and wait while another step of the same sender holds it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session, sessionmaker

from service.conversations.inbound import (
    TAKE_SENDER_LOCK,
    InboundMessage,
    WaitingText,
    answer_stored,
    handle_inbound,
    inbound_row,
)
from service.conversations.intake import DeferredIntake
from service.models import Channel, ChannelKind, Community, Message, MessageStatus
from tests.conftest import COMMUNITY_NUMBER, DEADLINE, wait_until

SENDER = "+12025550111"


@pytest.fixture(autouse=True)
def postgres_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the senders' locks are PostgreSQL's (SQLite's write lock serialises texts)")


def text(sid: str, body: str = "HELP") -> InboundMessage:
    return InboundMessage(sid, ChannelKind.SMS, SENDER, COMMUNITY_NUMBER, body)


def held_while(
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
    statements: list[str],
    work: Callable[[], None],
    while_held: Callable[[], None],
) -> None:
    """Run ``work`` in a thread while another session holds the sender's lock (a step of the
    same sender, in the webhook or a lane); once ``work`` waits for the lock, check
    ``while_held``, then release the lock and let ``work`` finish. Records only ``work``'s
    statements (and the waiting check's)."""

    def a_lock_is_awaited() -> bool:
        ungranted = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        return bool(db.scalar(sql(ungranted)))

    worker = threading.Thread(target=work)
    with session_factory() as holder:
        holder.execute(TAKE_SENDER_LOCK, {"community_id": community.id, "sender": SENDER})
        statements.clear()
        worker.start()
        wait_until(a_lock_is_awaited, "the text waits for its sender's lock")
        while_held()
        holder.commit()
    worker.join(DEADLINE)


def taking_the_lock(statements: list[str]) -> list[str]:
    return [s for s in statements if "pg_advisory_xact_lock" in s]


def test_the_webhooks_insert_takes_the_senders_lock_first_in_the_same_statement(
    session_factory: sessionmaker[Session], community: Community, db: Session, statements: list[str]
) -> None:
    sid = "SM" + "f" * 32
    answers: list[tuple[str, ...]] = []

    def work() -> None:
        with session_factory() as session:
            answers.append(handle_inbound(session, text(sid), datetime.now(UTC)).replies)

    def not_stored_yet() -> None:
        stored = db.scalar(select(func.count()).where(Message.twilio_sid == sid))
        assert stored == 0 and not answers

    held_while(session_factory, community, db, statements, work, not_stored_yet)
    assert len(answers) == 1 and answers[0]  # HELP answered once the lock was free
    taking = taking_the_lock(statements)
    assert len(taking) == 1
    assert taking[0].startswith("WITH sender_lock") and "INSERT INTO messages" in taking[0]


def test_a_workers_claim_of_a_deferred_text_takes_the_senders_lock_first_in_the_same_statement(
    engine: Engine,
    session_factory: sessionmaker[Session],
    community: Community,
    channel: Channel,
    db: Session,
    statements: list[str],
) -> None:
    sid = "SM" + "e" * 32
    message_id = DeferredIntake(engine).store(
        inbound_row(channel, text(sid), datetime.now(UTC)), SENDER
    )
    assert message_id is not None
    waiting = WaitingText(message_id, community.id, SENDER)
    answered: list[bool] = []

    def work() -> None:
        with session_factory() as session:
            answered.append(answer_stored(session, waiting, datetime.now(UTC)))

    def not_answered_yet() -> None:
        assert not answered

    held_while(session_factory, community, db, statements, work, not_answered_yet)
    assert answered == [True]
    taking = taking_the_lock(statements)
    assert len(taking) == 1 and taking[0].startswith("WITH sender_lock")
    assert "UPDATE messages" in taking[0] and "FROM sender_lock" in taking[0]
    db.expire_all()
    assert db.get_one(Message, message_id).status == MessageStatus.PROCESSED
