"""A complete shift day, driven by signed webhooks and the fake Twilio server with a frozen
clock: join, list, sign up (one waitlisted), the 24 h reminder once, a drop that promotes the
waitlist, check-in and out with hours, a no-show, and a call-out that fills exactly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.cli import main as cli
from service.config import Settings
from service.db import unit_of_work
from service.models import Assignment, AssignmentStatus, CallOut, Community, Shift, Volunteer
from service.rosters import callouts
from service.rosters import shifts as rosters
from service.sending import outbox
from tests.conftest import SmsHelper
from tests.fakes.twilio_server import FakeTwilio
from workers.worker import HandsUpWorker

ZONE = ZoneInfo("America/New_York")
ANA, BEN, CHI, DEV, EVE = (f"+1202555012{i}" for i in range(1, 6))


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 3, day, hour, minute, tzinfo=ZONE)  # Fri 1 March 2030, Sat 2 ...


@pytest.fixture
def frozen() -> Iterator[None]:
    yield
    clock.freeze(None)


def deliver(session_factory: sessionmaker[Session], redis: Redis) -> None:
    """What the worker process does: the pump enqueues due rows, RQ runs them."""
    outbox.enqueue_due(session_factory, redis)
    HandsUpWorker(list(outbox.QUEUES), connection=redis).work(burst=True)


def assignment_status(db: Session, shift_id: int, phone: str) -> AssignmentStatus:
    db.expire_all()
    return db.scalars(
        select(Assignment.status)
        .join(Volunteer, Volunteer.id == Assignment.volunteer_id)
        .where(Assignment.shift_id == shift_id, Volunteer.phone == phone)
    ).one()


def test_a_complete_shift_day(
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    settings: Settings,
    frozen: None,
) -> None:
    clock.freeze(local(1, 8))  # Friday 08:00
    with unit_of_work(session_factory) as session:
        shift = rosters.add_shift(
            session,
            session.get_one(Community, community.id),
            title="Sandbags",
            place="School gym",
            starts_at=local(2, 9),
            ends_at=local(2, 13),
            capacity=3,
        )
        shift_id = shift.id

    # Five volunteers join by text.
    for phone, name in ((ANA, "Ana"), (BEN, "Ben"), (CHI, "Chi"), (DEV, "Dev"), (EVE, "Eve")):
        sms.join(phone, name)

    # Four take the shift from the SHIFTS menu; the fourth lands on the waitlist.
    menu = sms.send(ANA, "SHIFTS")[0]
    assert "1) Sandbags, tomorrow, 9am, School gym (3 left)" in menu
    assert sms.send(ANA, "1")[0].startswith("You are on Sandbags, tomorrow, 9am at School gym.")
    for phone in (BEN, CHI):
        sms.send(phone, "SHIFTS")
        assert sms.send(phone, "1")[0].startswith("You are on Sandbags")
    sms.send(DEV, "SHIFTS")
    assert sms.send(DEV, "1")[0].startswith("Sandbags is full. You are number 1 on the waitlist")
    assert "waitlist #1" in sms.send(DEV, "MY")[0]

    # Friday 09:00: the 24-hour reminder goes to the three confirmed volunteers, once.
    clock.freeze(local(1, 9, 1))
    deliver(session_factory, redis)
    deliver(session_factory, redis)
    reminders = [m for m in fake_twilio.messages if m.body.startswith("Reminder: Sandbags")]
    assert sorted(m.to for m in reminders) == sorted([ANA, BEN, CHI])
    assert reminders[0].body == (
        "Reminder: Sandbags, tomorrow, 9am at School gym. Reply YES to confirm or DROP to free "
        "your place."
    )

    # Ben confirms; Ana cannot come and drops: Dev is promoted and told by SMS.
    assert sms.send(BEN, "YES") == [
        "Thanks, see you at Sandbags, tomorrow, 9am. Text DROP if plans change."
    ]
    assert sms.send(ANA, "DROP")[0].startswith("You dropped Sandbags")
    deliver(session_factory, redis)
    promoted = [m.body for m in fake_twilio.sent_to(DEV)]
    assert promoted == [
        "A place opened: you are now on Sandbags, Sat Mar 2, 9am at School gym. "
        "Text DROP if you cannot come."
    ]
    assert assignment_status(db, shift_id, DEV) == AssignmentStatus.CONFIRMED
    assert assignment_status(db, shift_id, ANA) == AssignmentStatus.DROPPED

    # Saturday: Ben and Chi check in and out; Dev never comes.
    clock.freeze(local(2, 8, 30))
    assert sms.send(BEN, "IN")[0].startswith("Checked in to Sandbags.")
    assert sms.send(CHI, "IN")[0].startswith("Checked in to Sandbags.")
    clock.freeze(local(2, 12, 30))
    assert sms.send(BEN, "OUT") == [
        "Checked out of Sandbags: 4 hours. Thank you for helping! Text SHIFTS for more."
    ]
    clock.freeze(local(2, 13))
    assert sms.send(CHI, "OUT") == [
        "Checked out of Sandbags: 4.5 hours. Thank you for helping! Text SHIFTS for more."
    ]
    clock.freeze(local(2, 13, 31))
    with unit_of_work(session_factory) as session:
        assert rosters.mark_no_shows(session, clock.now()) == 1
    assert assignment_status(db, shift_id, DEV) == AssignmentStatus.NO_SHOW

    roster = CliRunner().invoke(
        cli,
        ["roster", "--shift", str(shift_id)],
        env={
            "HANDSUP_ENV": "test",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url or "",
        },
    )
    assert roster.exit_code == 0, roster.output
    assert roster.stdout.splitlines() == [
        "name,phone,status,hours",
        f"Ana,{ANA},dropped,",
        f"Ben,{BEN},checked out,4",
        f"Chi,{CHI},checked out,4.5",
        f"Dev,{DEV},no-show,",
    ]

    # Saturday afternoon: an urgent call-out for 2 people; three say YES, two get the places.
    clock.freeze(local(2, 14))
    with unit_of_work(session_factory) as session:
        urgent = rosters.add_shift(
            session,
            session.get_one(Community, community.id),
            title="Evacuation",
            place="Elm St",
            starts_at=local(2, 15),
            ends_at=local(2, 18),
            capacity=1,
        )
        callout = callouts.start_callout(
            session, urgent, session.get_one(Community, community.id), 2, "", clock.now()
        )
        callout_id, urgent_id = callout.id, urgent.id
    deliver(session_factory, redis)
    asked = [m.to for m in fake_twilio.messages if m.body.startswith("URGENT")]
    assert len(asked) == 5  # everyone is active, qualified and under the ask limit
    replies = {phone: sms.send(phone, "YES")[0] for phone in (EVE, ANA, BEN)}
    assert replies[EVE].startswith("You are in! Evacuation")
    assert replies[ANA].startswith("You are in! Evacuation")
    assert replies[BEN].startswith("Thank you! All places for Evacuation are filled now.")
    db.expire_all()
    assert db.get_one(CallOut, callout_id).filled == 2
    confirmed = db.scalars(
        select(Assignment).where(
            Assignment.shift_id == urgent_id, Assignment.status == AssignmentStatus.CONFIRMED
        )
    ).all()
    assert len(confirmed) == 2
    assert db.get_one(Shift, urgent_id).confirmed_count == 2
    # nothing reached an opted-in volunteer twice along the way
    bodies = [(m.to, m.body) for m in fake_twilio.messages]
    assert len(bodies) == len(set(bodies))
