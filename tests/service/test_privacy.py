"""Privacy: FORGET erases a volunteer (keeping anonymous counts), leaves a hashed suppression
entry that stops imports and coordinators adding the number back, and message retention."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import clock
from service.db import unit_of_work
from service.models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Community,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Suppression,
    Volunteer,
)
from service.rosters import shifts as rosters
from service.sending.queue import queue_message
from service.volunteers import privacy
from service.volunteers.import_export import import_volunteers
from tests.conftest import SmsHelper

ANA = "+12025550123"
BEN = "+12025550124"


def _shift(session_factory: sessionmaker[Session], community: Community, capacity: int) -> int:
    starts = clock.now() + timedelta(days=2)
    with unit_of_work(session_factory) as session:
        shift = rosters.add_shift(
            session,
            session.get_one(Community, community.id),
            title="Sandbags",
            place="School",
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            capacity=capacity,
        )
        session.flush()
        return shift.id


def _volunteer(db: Session, phone: str) -> Volunteer | None:
    db.expire_all()
    return db.scalar(select(Volunteer).where(Volunteer.phone == phone))


def _mentions(db: Session, phone: str) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                or_(
                    Message.from_address.contains(phone[1:]),
                    Message.to_address.contains(phone[1:]),
                )
            )
        )
        or 0
    )


def test_forget_erases_the_volunteer_and_keeps_the_counts(
    sms: SmsHelper, db: Session, session_factory: sessionmaker[Session], community: Community
) -> None:
    shift_id = _shift(session_factory, community, capacity=1)
    sms.join(ANA, "Ana")
    sms.join(BEN, "Ben")
    sms.send(ANA, "SHIFTS")
    sms.send(ANA, "1")  # the only place
    sms.send(BEN, "SHIFTS")
    sms.send(BEN, "1")  # waitlisted behind Ana
    ana = _volunteer(db, ANA)
    assert ana is not None
    ana_id = ana.id
    messages_before = db.execute(select(func.count()).select_from(Message)).scalar_one()

    assert "Reply YES to erase" in sms.send(ANA, "FORGET")[0]
    done = sms.send(ANA, "YES")
    assert done[0].startswith("Done: Riverside Flood Crew erased your name, number and texts.")

    db.expire_all()
    erased = db.get_one(Volunteer, ana_id)
    assert erased.name is None and erased.phone == f"erased-{ana_id}"
    assert erased.status == VolunteerStatus.OPTED_OUT and erased.erased_at is not None
    assert erased.skills == [] and erased.consent_wording is None
    # every text to or from Ana lost its words and her number; the rows (counts) stay
    assert _mentions(db, ANA) == 0
    hers = db.scalars(select(Message).where(Message.volunteer_id == ana_id)).all()
    assert hers and all(m.body == "" for m in hers if m.direction == Direction.INBOUND)
    messages_after = db.execute(select(func.count()).select_from(Message)).scalar_one()
    assert messages_after >= messages_before + 2
    # her place went to Ben, who was told; her assignment row stays, dropped
    assignment = db.scalars(select(Assignment).where(Assignment.volunteer_id == ana_id)).one()
    assert assignment.status == AssignmentStatus.DROPPED
    ben = _volunteer(db, BEN)
    assert ben is not None
    ben_assignment = db.scalars(select(Assignment).where(Assignment.volunteer_id == ben.id)).one()
    assert ben_assignment.status == AssignmentStatus.CONFIRMED
    assert db.get_one(type(assignment.shift), shift_id).confirmed_count == 1
    # a hashed suppression entry, never the number
    entry = db.scalars(select(Suppression)).one()
    assert entry.phone_hash == privacy.phone_hash(community.id, ANA) and ANA not in entry.phone_hash
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "erased on request")).one()
    assert event.actor == "volunteer (FORGET)" and event.subject == f"volunteer:{ana_id}"


def test_waiting_texts_to_a_forgotten_volunteer_are_never_sent(
    sms: SmsHelper, db: Session, session_factory: sessionmaker[Session]
) -> None:
    sms.join(ANA, "Ana")
    with unit_of_work(session_factory) as session:
        ana = session.scalars(select(Volunteer)).one()
        queued = queue_message(
            session,
            volunteer=ana,
            body="Reminder for Ana",
            kind=MessageKind.REMINDER,
            idempotency_key="r1",
            available_at=clock.now() + timedelta(hours=1),
        ).id
    sms.send(ANA, "FORGET")
    sms.send(ANA, "YES")
    db.expire_all()
    message = db.get_one(Message, queued)
    assert message.status == MessageStatus.SUPPRESSED and message.body == ""


def test_a_forgotten_number_can_come_back_only_by_itself(
    sms: SmsHelper, db: Session, session_factory: sessionmaker[Session], community: Community
) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "FORGET")
    sms.send(ANA, "YES")
    csv_text = "name,phone\nAna Again,+1 202 555 0123\nCy,+12025550125\n"
    with unit_of_work(session_factory) as session:
        report = import_volunteers(
            session,
            session.get_one(Community, community.id),
            io.StringIO(csv_text),
            source="test",
            now=clock.now(),
        )
    assert report.created == 1
    assert [str(e) for e in report.errors] == [
        "line 2: this number asked to be forgotten; they can text JOIN to come back"
    ]
    assert _volunteer(db, ANA) is None
    # texting in again is a new start: onboarding, and consent lifts the suppression
    sms.join(ANA, "Ana")
    back = _volunteer(db, ANA)
    assert back is not None and back.status == VolunteerStatus.ACTIVE
    assert db.scalar(select(func.count()).select_from(Suppression)) == 0


def test_no_keeps_the_volunteer(sms: SmsHelper, db: Session) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "FORGET")
    assert "Nothing was erased" in sms.send(ANA, "NO")[0]
    ana = _volunteer(db, ANA)
    assert ana is not None and ana.name == "Ana" and ana.erased_at is None


def test_retention_clears_old_texts_and_keeps_rows(
    db: Session, session_factory: sessionmaker[Session], community: Community
) -> None:
    now = clock.now()
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).retention_days = 30
        for days_ago, status in (
            (40, MessageStatus.DELIVERED),
            (10, MessageStatus.DELIVERED),
            (40, MessageStatus.PENDING),
        ):
            session.add(
                Message(
                    community_id=community.id,
                    direction=Direction.OUTBOUND,
                    kind="notice",
                    from_address="+12025550100",
                    to_address=ANA,
                    body=f"text from {days_ago} days ago",
                    status=status,
                    created_at=now - timedelta(days=days_ago),
                )
            )
    with unit_of_work(session_factory) as session:
        assert privacy.apply_retention(session, now) == 1
    with unit_of_work(session_factory) as session:
        assert privacy.apply_retention(session, now) == 0  # nothing left to clear
    db.expire_all()
    bodies = sorted(m.body for m in db.scalars(select(Message)))
    assert bodies == ["", "text from 10 days ago", "text from 40 days ago"]  # pending kept
    assert db.scalar(select(func.count()).select_from(Message)) == 3


def test_no_retention_setting_keeps_everything(
    db: Session, session_factory: sessionmaker[Session], community: Community
) -> None:
    with unit_of_work(session_factory) as session:
        session.add(
            Message(
                community_id=community.id,
                direction=Direction.INBOUND,
                kind="inbound",
                from_address=ANA,
                to_address="+12025550100",
                body="old",
                status=MessageStatus.PROCESSED,
                created_at=clock.now() - timedelta(days=3000),
            )
        )
    with unit_of_work(session_factory) as session:
        assert privacy.apply_retention(session, clock.now()) == 0
