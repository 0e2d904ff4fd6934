"""Reminder jobs against the fake Twilio server: sent once, skipped when no longer relevant,
answered by YES / DROP webhooks, and held back by quiet hours.

The jobs and the webhooks read the real clock, so shifts are placed relative to it and quiet
hours are set around the current local minute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.dates import DateStyle
from flows.engine import VolunteerStatus
from service.models import (
    Assignment,
    AssignmentStatus,
    Community,
    Message,
    OutboxItem,
    Roster,
    Shift,
    Volunteer,
)
from service.rosters import shifts as rosters
from service.sending import dispatcher, outbox
from tests.conftest import SmsHelper, count_messages
from tests.fakes.twilio_server import FakeTwilio
from workers import dispatch
from workers import outbox as outbox_jobs
from workers.reminders import send_reminder

ANA = "+12025550131"
BEN = "+12025550132"


def no_quiet_hours(db: Session, community: Community) -> Community:
    place = db.get_one(Community, community.id)
    place.quiet_start_minute = place.quiet_end_minute = 0  # equal: never quiet
    return place


@pytest.fixture
def place(db: Session, community: Community) -> Community:
    """The test community without quiet hours (the real clock may be at night)."""
    return no_quiet_hours(db, community)


def add_volunteer(db: Session, community: Community, phone: str = ANA) -> Volunteer:
    person = Volunteer(
        community_id=community.id, phone=phone, name="Ana", status=VolunteerStatus.ACTIVE
    )
    db.add(person)
    db.flush()
    return person


def signed_up(
    db: Session,
    community: Community,
    person: Volunteer,
    *,
    starts_in: timedelta = timedelta(hours=3),
    title: str = "Sandbags",
    offsets: list[int] | None = None,
) -> tuple[Shift, Assignment]:
    """A shift ``starts_in`` from now with ``person`` confirmed on it (committed)."""
    now = datetime.now(UTC)
    shift = rosters.add_shift(
        db,
        community,
        title=title,
        place="School gym",
        starts_at=now + starts_in,
        ends_at=now + starts_in + timedelta(hours=4),
        capacity=3,
    )
    if offsets is not None:
        db.get_one(Roster, shift.roster_id).reminder_offsets = offsets
    assert rosters.claim(db, person, community, shift.id, now).outcome == "confirmed"
    assignment = db.scalars(
        select(Assignment).where(
            Assignment.shift_id == shift.id, Assignment.volunteer_id == person.id
        )
    ).one()
    db.commit()
    return shift, assignment


def reminder_row(db: Session, assignment_id: int) -> OutboxItem:
    """The single reminder row scheduled for ``assignment_id``."""
    db.expire_all()
    rows = [
        row
        for row in db.scalars(select(OutboxItem).where(OutboxItem.job == rosters.REMINDER_JOB))
        if row.payload["assignment_id"] == assignment_id
    ]
    assert len(rows) == 1, [row.payload for row in rows]
    return rows[0]


def test_a_reminder_reaches_twilio_once_even_when_run_twice(
    db: Session,
    place: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    session_factory: sessionmaker[Session],
    redis: Redis,
) -> None:
    person = add_volunteer(db, place)
    _, assignment = signed_up(db, place, person)
    row = reminder_row(db, assignment.id)  # only the 2 h one: the 24 h one would be stale
    assert row.payload["offset"] == 120

    assert outbox_jobs.run_item(row.id).startswith("sent: SM")
    assert outbox_jobs.run_item(row.id) == "skipped: done"
    assert send_reminder(**row.payload) == "skipped: not pending"  # a crashed worker's rerun

    sent = fake_twilio.sent_to(ANA)
    assert len(sent) == 1
    assert sent[0].body.startswith("Reminder: Sandbags, ")
    assert "at School gym. Reply YES to confirm or DROP to free your place." in sent[0].body
    db.expire_all()
    assert count_messages(db, kind="reminder") == 1
    reminder = db.scalars(select(Message).where(Message.kind == "reminder")).one()
    assert reminder.twilio_sid == sent[0].sid
    assert db.get_one(OutboxItem, row.id).done_at is not None
    # the dispatcher, when the pump runs it later, finds nothing more to send
    assert dispatcher.dispatch_due(session_factory, redis).enqueued == 0
    assert dispatch.send_message(reminder.id) == "skipped: not pending"
    assert len(fake_twilio.messages) == 1


def test_the_reminder_asks_a_question_that_yes_answers(
    db: Session,
    place: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    sms: SmsHelper,
) -> None:
    person = add_volunteer(db, place)
    _, assignment = signed_up(db, place, person)
    assert outbox_jobs.run_item(reminder_row(db, assignment.id).id).startswith("sent:")
    db.expire_all()
    pending = db.get_one(Volunteer, person.id).pending_question
    assert pending is not None
    assert (pending["kind"], pending["id"]) == ("reminder", assignment.id)
    db.commit()

    reply = sms.send(ANA, "yes")
    assert len(reply) == 1
    assert reply[0].startswith("Thanks, see you at Sandbags, ")
    db.expire_all()
    confirmed = db.get_one(Assignment, assignment.id)
    assert confirmed.confirmed_at is not None
    assert confirmed.status == AssignmentStatus.CONFIRMED
    assert db.get_one(Volunteer, person.id).pending_question is None


def test_a_bare_drop_after_a_reminder_drops_that_shift(
    db: Session,
    place: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    sms: SmsHelper,
) -> None:
    person = add_volunteer(db, place)
    _, first = signed_up(db, place, person, title="Sooner")
    _, second = signed_up(db, place, person, starts_in=timedelta(hours=5), title="Later")
    # the reminder for the later shift: with two shifts booked, DROP can only mean that one
    assert outbox_jobs.run_item(reminder_row(db, second.id).id).startswith("sent:")
    db.commit()

    reply = sms.send(ANA, "DROP")
    assert reply[0].startswith("You dropped Later, ")
    db.expire_all()
    assert db.get_one(Assignment, second.id).status == AssignmentStatus.DROPPED
    assert db.get_one(Assignment, first.id).status == AssignmentStatus.CONFIRMED
    assert db.get_one(Volunteer, person.id).pending_question is None


def test_without_a_reminder_a_bare_drop_asks_which(
    db: Session, place: Community, sms: SmsHelper
) -> None:
    person = add_volunteer(db, place)
    _, first = signed_up(db, place, person, title="Sooner")
    _, second = signed_up(db, place, person, starts_in=timedelta(hours=5), title="Later")
    asked = sms.send(ANA, "DROP")[0]  # lists them, numbered, and drops nothing yet
    assert asked.startswith("Which one do you want to drop?\n1) Sooner, ")
    db.expire_all()
    assert {db.get_one(Assignment, a.id).status for a in (first, second)} == {
        AssignmentStatus.CONFIRMED
    }


def _drop(
    db: Session, community: Community, person: Volunteer, shift: Shift, a: Assignment
) -> None:
    rosters.drop(db, person, community, a.id, datetime.now(UTC))


def _pause(
    db: Session, community: Community, person: Volunteer, shift: Shift, a: Assignment
) -> None:
    person.status = VolunteerStatus.PAUSED


def _opt_out(
    db: Session, community: Community, person: Volunteer, shift: Shift, a: Assignment
) -> None:
    person.status = VolunteerStatus.OPTED_OUT


def _cancel(
    db: Session, community: Community, person: Volunteer, shift: Shift, a: Assignment
) -> None:
    rosters.cancel_shift(db, shift, community, datetime.now(UTC))


def _move(
    db: Session, community: Community, person: Volunteer, shift: Shift, a: Assignment
) -> None:
    later = shift.starts_at + timedelta(hours=1)
    rosters.move_shift(db, shift, later, later + timedelta(hours=4), datetime.now(UTC))


@pytest.mark.parametrize(
    ("change", "outcome"),
    [
        (_drop, "skipped: not confirmed"),
        (_pause, "skipped: volunteer paused"),
        (_opt_out, "skipped: volunteer opted_out"),
        (_cancel, "skipped: "),
        (_move, "skipped: shift moved"),
    ],
    ids=["dropped", "paused", "opted-out", "cancelled", "moved"],
)
def test_reminders_are_skipped_when_no_longer_relevant(
    db: Session,
    place: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    change: Any,
    outcome: str,
) -> None:
    person = add_volunteer(db, place)
    shift, assignment = signed_up(db, place, person)
    row = reminder_row(db, assignment.id)
    change(db, place, person, shift, assignment)
    db.commit()

    assert outbox_jobs.run_item(row.id).startswith(outcome)

    assert fake_twilio.messages == []
    db.expire_all()
    assert count_messages(db, kind="reminder") == 0
    assert db.get_one(OutboxItem, row.id).done_at is not None  # settled, not retried
    assert db.get_one(Volunteer, person.id).pending_question is None


def test_a_volunteer_whose_break_has_ended_is_reminded(
    db: Session, place: Community, fake_twilio: FakeTwilio, worker: Any
) -> None:
    person = add_volunteer(db, place)
    _, assignment = signed_up(db, place, person)
    person.status = VolunteerStatus.PAUSED  # "PAUSE 2w" two weeks ago, no text since
    person.paused_until = datetime.now(UTC) - timedelta(hours=1)
    db.commit()

    assert outbox_jobs.run_item(reminder_row(db, assignment.id).id).startswith("sent:")
    assert len(fake_twilio.sent_to(ANA)) == 1


def test_signing_up_again_after_a_drop_brings_the_reminder_back(
    db: Session, place: Community, fake_twilio: FakeTwilio, worker: Any
) -> None:
    person = add_volunteer(db, place)
    shift, assignment = signed_up(db, place, person)
    row = reminder_row(db, assignment.id)
    rosters.drop(db, person, place, assignment.id, datetime.now(UTC))
    db.commit()
    assert outbox_jobs.run_item(row.id) == "skipped: not confirmed"

    assert rosters.claim(db, person, place, shift.id, datetime.now(UTC)).outcome == "confirmed"
    db.commit()
    db.expire_all()

    pending = [
        r
        for r in db.scalars(select(OutboxItem).where(OutboxItem.job == rosters.REMINDER_JOB))
        if r.done_at is None
    ]
    assert [r.payload["offset"] for r in pending] == [120]


def test_a_moved_shift_is_reminded_at_its_new_time(
    db: Session, place: Community, fake_twilio: FakeTwilio, worker: Any
) -> None:
    person = add_volunteer(db, place)
    shift, assignment = signed_up(db, place, person)
    old_row = reminder_row(db, assignment.id)
    new_start = shift.starts_at + timedelta(hours=1)
    rosters.move_shift(db, shift, new_start, new_start + timedelta(hours=4), datetime.now(UTC))
    db.commit()

    new_rows = [
        r
        for r in db.scalars(select(OutboxItem).where(OutboxItem.job == rosters.REMINDER_JOB))
        if r.id != old_row.id
    ]
    assert [(r.payload["offset"], r.available_at) for r in new_rows] == [
        (120, new_start - timedelta(hours=2))
    ]
    assert outbox_jobs.run_item(old_row.id) == "skipped: shift moved"
    assert outbox_jobs.run_item(new_rows[0].id).startswith("sent:")
    local_start = new_start.astimezone(ZoneInfo(place.timezone))
    assert len(fake_twilio.messages) == 1
    new_time = DateStyle("en", place.country).time(local_start.time())  # "5:38pm" in the US
    assert f"{new_time} at School gym" in fake_twilio.messages[0].body


# ----- quiet hours --------------------------------------------------------------------------------
QUIET_ZONE = "Asia/Kolkata"  # no daylight saving: an hour ahead is always 60 minutes ahead


def quiet_around_now(db: Session, community: Community) -> datetime:
    """Make the current local minute fall inside quiet hours ending an hour from now; return
    that end (UTC)."""
    place = db.get_one(Community, community.id)
    place.timezone = QUIET_ZONE
    local = datetime.now(UTC).astimezone(ZoneInfo(QUIET_ZONE))
    minute = local.hour * 60 + local.minute
    place.quiet_start_minute = (minute - 60) % 1440
    place.quiet_end_minute = (minute + 60) % 1440
    db.commit()
    return (local.replace(second=0, microsecond=0) + timedelta(minutes=60)).astimezone(UTC)


def test_a_reminder_due_in_quiet_hours_waits_until_they_end(
    db: Session,
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    session_factory: sessionmaker[Session],
    redis: Redis,
) -> None:
    quiet_end = quiet_around_now(db, community)
    place = db.get_one(Community, community.id)
    person = add_volunteer(db, place)
    _, assignment = signed_up(db, place, person, starts_in=timedelta(hours=3))
    row = reminder_row(db, assignment.id)

    assert outbox_jobs.run_item(row.id) == f"deferred until {quiet_end.isoformat()}"

    assert fake_twilio.messages == []
    db.expire_all()
    waiting = db.get_one(OutboxItem, row.id)
    assert (waiting.done_at, waiting.enqueued_at) == (None, None)
    assert waiting.available_at == quiet_end
    assert count_messages(db, kind="reminder") == 0
    db.commit()
    # the pump leaves it alone until quiet hours end, then hands it to RQ
    assert outbox.enqueue_due(session_factory, redis) == 0
    assert outbox.enqueue_due(session_factory, redis, now=quiet_end) == 1


def test_in_quiet_hours_a_reminder_is_sent_now_if_waiting_would_miss_the_start(
    db: Session, community: Community, fake_twilio: FakeTwilio, worker: Any
) -> None:
    quiet_end = quiet_around_now(db, community)
    place = db.get_one(Community, community.id)
    person = add_volunteer(db, place)
    starts_in = timedelta(minutes=30)
    shift, assignment = signed_up(db, place, person, starts_in=starts_in, offsets=[10])
    assert shift.starts_at < quiet_end

    assert outbox_jobs.run_item(reminder_row(db, assignment.id).id).startswith("sent:")
    assert [m.body[:19] for m in fake_twilio.sent_to(ANA)] == ["Reminder: Sandbags,"]
