"""The transactional outbox's ``add_unless_present``: one row per dedupe key, in one statement,
and the note that work is due now (the webhook's hand-over) when the row is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.db import unit_of_work
from service.models import OutboxItem
from service.sending import outbox


def test_a_dedupe_key_adds_one_row_and_the_first_one_stays(
    session_factory: sessionmaker[Session],
) -> None:
    later = datetime.now(UTC) + timedelta(hours=3)
    with unit_of_work(session_factory) as session:
        assert outbox.add_unless_present(
            session,
            job="workers.reminders.remind",
            payload={"n": 1},
            dedupe_key="k",
            available_at=later,
        )
        assert not outbox.add_unless_present(
            session, job="workers.reminders.remind", payload={"n": 2}, dedupe_key="k"
        )
    with unit_of_work(session_factory) as session:  # and in a later transaction
        assert not outbox.add_unless_present(
            session, job="workers.reminders.remind", payload={"n": 3}, dedupe_key="k"
        )
        rows = session.scalars(select(OutboxItem)).all()
        assert [(r.payload, r.available_at, r.queue, r.attempts, r.done_at) for r in rows] == [
            ({"n": 1}, later, "default", 0, None)
        ]
        assert rows[0].created_at is not None


def test_only_a_row_due_now_notes_due_work(session_factory: sessionmaker[Session]) -> None:
    with unit_of_work(session_factory) as session:
        outbox.queued_due_work(session)  # a clean note
        outbox.add_unless_present(
            session,
            job="workers.reminders.remind",
            payload={},
            dedupe_key="later",
            available_at=datetime.now(UTC) + timedelta(hours=1),
        )
        assert not outbox.queued_due_work(session)
        outbox.add_unless_present(
            session, job="workers.reminders.remind", payload={}, dedupe_key="now"
        )
        assert outbox.queued_due_work(session)
        outbox.add_unless_present(
            session, job="workers.reminders.remind", payload={}, dedupe_key="now"
        )
        assert not outbox.queued_due_work(session)  # nothing added: nothing new is due
