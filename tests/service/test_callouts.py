"""Urgent call-outs: who is asked (least recently asked first, qualified, under the weekly
limit), YES replies by signed webhook filling places first-come, suppression of asks still
queued once full, NO replies, and later waves.

Webhooks read the real clock, so call-outs start at the real ``now`` and the community has no
quiet hours (the test may run at night), except in the quiet-hours test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service.models import (
    Assignment,
    AssignmentStatus,
    CallOut,
    CallOutAsk,
    CallOutStatus,
    Community,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    OutboxItem,
    Shift,
    Volunteer,
)
from service.rosters import callouts
from service.rosters import shifts as rosters
from tests.conftest import SmsHelper, count_messages, not_none
from tests.fakes.twilio_server import FakeTwilio
from workers import dispatch
from workers import outbox as outbox_jobs
from workers.callouts import next_wave


@pytest.fixture
def place(db: Session, community: Community) -> Community:
    """The test community, in this session, without quiet hours."""
    found = db.get_one(Community, community.id)
    found.quiet_start_minute = found.quiet_end_minute = 0
    db.flush()
    return found


def phone(n: int) -> str:
    return f"+1202555{n:04d}"


def volunteer(
    db: Session,
    community: Community,
    n: int,
    *,
    status: VolunteerStatus = VolunteerStatus.ACTIVE,
    skills: list[str] | None = None,
    last_asked_at: datetime | None = None,
    urgent_ok: bool = False,
    paused_until: datetime | None = None,
) -> Volunteer:
    person = Volunteer(
        community_id=community.id,
        phone=phone(n),
        name=f"V{n}",
        status=status,
        skills=skills or [],
        last_asked_at=last_asked_at,
        urgent_ok=urgent_ok,
        paused_until=paused_until,
    )
    db.add(person)
    db.flush()
    return person


def urgent_shift(
    db: Session,
    community: Community,
    now: datetime,
    *,
    capacity: int = 1,
    skill: str | None = None,
    title: str = "Evacuation",
) -> Shift:
    return rosters.add_shift(
        db,
        community,
        title=title,
        place="Elm St",
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=4),
        capacity=capacity,
        skill=skill,
    )


def asked_ids(db: Session, callout_id: int, wave: int | None = None) -> list[int]:
    query = select(CallOutAsk.volunteer_id).where(CallOutAsk.callout_id == callout_id)
    if wave is not None:
        query = query.where(CallOutAsk.wave == wave)
    return sorted(db.scalars(query).all())


def confirmed_on(db: Session, shift_id: int) -> list[int]:
    return sorted(
        db.scalars(
            select(Assignment.volunteer_id).where(
                Assignment.shift_id == shift_id, Assignment.status == AssignmentStatus.CONFIRMED
            )
        ).all()
    )


def ask_message(db: Session, callout_id: int, volunteer_id: int) -> Message:
    return db.scalars(
        select(Message).where(
            Message.callout_id == callout_id, Message.volunteer_id == volunteer_id
        )
    ).one()


def test_start_asks_qualified_volunteers_least_recently_asked_first(
    db: Session, place: Community
) -> None:
    now = datetime.now(UTC)
    earlier = urgent_shift(db, place, now, title="Earlier")

    history: list[int] = []  # the texts of earlier asks

    def seed_asks(person: Volunteer, *ages: timedelta) -> None:
        """Asks in earlier call-outs (one row per call-out and volunteer, and the text sent)."""
        for age in ages:
            old = CallOut(
                community_id=place.id, shift_id=earlier.id, need=1, filled=0, text="", waves_sent=1
            )
            db.add(old)
            db.flush()
            db.add(CallOutAsk(callout_id=old.id, volunteer_id=person.id, asked_at=now - age))
            sent = Message(
                community_id=place.id,
                volunteer_id=person.id,
                callout_id=old.id,
                direction=Direction.OUTBOUND,
                kind=MessageKind.CALLOUT,
                from_address="+12025550100",
                to_address=person.phone,
                body="an earlier call-out",
                status=MessageStatus.DELIVERED,
                created_at=now - age,
                sent_at=now - age,
            )
            db.add(sent)
            db.flush()
            history.append(sent.id)

    skill = ["driver"]
    days = timedelta(days=1)
    never_a = volunteer(db, place, 1, skills=skill)
    never_b = volunteer(db, place, 2, skills=["medic", "driver"])
    long_ago = volunteer(db, place, 3, skills=skill, last_asked_at=now - 30 * days)
    last_week = volunteer(db, place, 4, skills=skill, last_asked_at=now - 6 * days)
    yesterday = volunteer(db, place, 5, skills=skill, last_asked_at=now - days)
    an_hour_ago = volunteer(db, place, 6, skills=skill, last_asked_at=now - timedelta(hours=1))
    just_now = volunteer(db, place, 7, skills=skill, last_asked_at=now - timedelta(minutes=1))
    seed_asks(last_week, 6 * days)
    # the weekly limit (3): three asks in the last 7 days exclude; older asks do not count
    over_limit = volunteer(db, place, 8, skills=skill, last_asked_at=now - 40 * days)
    seed_asks(over_limit, days, 2 * days, 6 * days)
    near_limit = volunteer(db, place, 9, skills=skill, last_asked_at=now - 35 * days)
    seed_asks(near_limit, days, 2 * days, 8 * days)
    # excluded, though never asked
    paused = volunteer(db, place, 10, skills=skill, status=VolunteerStatus.PAUSED)
    opted_out = volunteer(db, place, 11, skills=skill, status=VolunteerStatus.OPTED_OUT)
    not_joined = volunteer(db, place, 12, skills=skill, status=VolunteerStatus.NEW)
    unqualified = volunteer(db, place, 13, skills=["cook"])
    shift = urgent_shift(db, place, now, skill="driver", capacity=1)
    on_shift = volunteer(db, place, 15, skills=skill)
    assert rosters.claim(db, on_shift, place, shift.id, now).outcome == "confirmed"
    excluded = {paused.id, opted_out.id, not_joined.id, unqualified.id, over_limit.id, on_shift.id}

    callout = callouts.start_callout(db, shift, place, 2, "Bring boots.", now)

    expected = [never_a, never_b, near_limit, long_ago, last_week, yesterday]
    assert len(expected) == callouts.WAVE_FACTOR * 2
    assert asked_ids(db, callout.id, wave=1) == sorted(p.id for p in expected)
    assert {an_hour_ago.id, just_now.id}.isdisjoint(asked_ids(db, callout.id))
    assert not excluded & set(asked_ids(db, callout.id))
    assert callout.waves_sent == 1
    assert (callout.status, callout.need, callout.filled) == (CallOutStatus.OPEN, 2, 0)
    # the call-out adds its places to the shift
    db.refresh(shift)
    assert (shift.capacity, shift.confirmed_count) == (3, 1)

    messages = db.scalars(
        select(Message).where(Message.kind == "callout", Message.id.not_in(history))
    ).all()
    assert sorted(not_none(m.volunteer_id for m in messages)) == sorted(p.id for p in expected)
    for message in messages:
        assert message.callout_id == callout.id
        assert message.status == MessageStatus.PENDING
        assert message.body.startswith(
            "URGENT from Riverside Flood Crew: we need 2 people for Evacuation at Elm St, "
        )
        assert "Bring boots. Reply YES to come." in message.body
    for person in expected:
        db.refresh(person)
        assert person.last_asked_at == now
        assert person.pending_question is not None
        assert (person.pending_question["kind"], person.pending_question["id"]) == (
            "callout",
            callout.id,
        )
    for person in (an_hour_ago, just_now, over_limit):
        db.refresh(person)
        assert person.pending_question is None
    wave = db.scalars(select(OutboxItem).where(OutboxItem.job == callouts.WAVE_JOB)).one()
    assert wave.payload == {"callout_id": callout.id}
    assert wave.available_at == now + callouts.WAVE_INTERVAL


def test_start_callout_refuses_bad_need_and_finished_shifts(db: Session, place: Community) -> None:
    now = datetime.now(UTC)
    shift = urgent_shift(db, place, now)
    with pytest.raises(rosters.RosterError, match="--need"):
        callouts.start_callout(db, shift, place, 0, "", now)
    rosters.cancel_shift(db, shift, place, now)
    with pytest.raises(rosters.RosterError, match="over or cancelled"):
        callouts.start_callout(db, shift, place, 2, "", now)
    over = urgent_shift(db, place, now - timedelta(hours=5))
    with pytest.raises(rosters.RosterError, match="over or cancelled"):
        callouts.start_callout(db, over, place, 2, "", now)


def test_at_night_only_volunteers_who_accept_urgent_texts_are_asked(
    db: Session, community: Community
) -> None:
    place = db.get_one(Community, community.id)
    place.quiet_start_minute, place.quiet_end_minute = 21 * 60, 8 * 60  # the defaults
    night = datetime(2030, 3, 1, 23, 30, tzinfo=ZoneInfo(place.timezone)).astimezone(UTC)
    sleepy = volunteer(db, place, 1)
    ready = volunteer(db, place, 2, urgent_ok=True)
    shift = urgent_shift(db, place, night)

    callout = callouts.start_callout(db, shift, place, 1, "", night)

    assert asked_ids(db, callout.id) == [ready.id]
    assert sleepy.id not in asked_ids(db, callout.id)


def test_a_volunteer_whose_break_has_ended_is_asked_again(db: Session, place: Community) -> None:
    now = datetime.now(UTC)
    paused = VolunteerStatus.PAUSED
    back = volunteer(db, place, 1, status=paused, paused_until=now - timedelta(hours=1))
    volunteer(db, place, 2, status=paused, paused_until=now + timedelta(days=3))
    volunteer(db, place, 3, status=paused)  # until RESUME
    shift = urgent_shift(db, place, now)

    callout = callouts.start_callout(db, shift, place, 1, "", now)

    assert asked_ids(db, callout.id) == [back.id]


def test_three_yes_replies_for_two_places_confirm_exactly_two(
    db: Session,
    place: Community,
    sms: SmsHelper,
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    now = datetime.now(UTC)
    people = [volunteer(db, place, i) for i in range(1, 5)]
    shift = urgent_shift(db, place, now, capacity=1)
    callout = callouts.start_callout(db, shift, place, 2, "", now)
    assert asked_ids(db, callout.id) == sorted(p.id for p in people)
    db.commit()
    first_ask = ask_message(db, callout.id, people[0].id)
    assert dispatch.send_message(first_ask.id).startswith("sent:")  # asks go out while open

    replies = [sms.send(p.phone, "YES") for p in people[:3]]

    assert replies[0][0].startswith("You are in! Evacuation, ")
    assert replies[1][0].startswith("You are in! Evacuation, ")
    assert replies[2] == [
        "Thank you! All places for Evacuation are filled now. We will ask again next time. "
        "Text SHIFTS for other shifts."
    ]
    db.expire_all()
    assert confirmed_on(db, shift.id) == [people[0].id, people[1].id]
    assert (
        db.scalars(select(Assignment).where(Assignment.volunteer_id == people[2].id)).all() == []
    )  # the late YES is not left on a waitlist
    filled = db.get_one(CallOut, callout.id)
    assert (filled.status, filled.filled) == (CallOutStatus.FILLED, 2)
    assert db.get_one(Shift, shift.id).confirmed_count == 2
    answers = dict(
        db.execute(
            select(CallOutAsk.volunteer_id, CallOutAsk.answer).where(
                CallOutAsk.callout_id == callout.id
            )
        ).all()
    )
    assert answers == {
        people[0].id: "yes",
        people[1].id: "yes",
        people[2].id: "late",
        people[3].id: None,
    }
    for person in people[:3]:
        assert db.get_one(Volunteer, person.id).pending_question is None

    # the fourth volunteer's ask is still queued: at send time it is suppressed
    late_ask = ask_message(db, callout.id, people[3].id)
    assert dispatch.send_message(late_ask.id) == "suppressed: call-out already filled"
    db.expire_all()
    assert db.get_one(Message, late_ask.id).status == MessageStatus.SUPPRESSED
    assert fake_twilio.sent_to(people[3].phone) == []
    assert [m.to for m in fake_twilio.messages] == [people[0].phone]


def test_a_no_reply_declines(db: Session, place: Community, sms: SmsHelper) -> None:
    now = datetime.now(UTC)
    person = volunteer(db, place, 1)
    shift = urgent_shift(db, place, now)
    callout = callouts.start_callout(db, shift, place, 1, "", now)
    db.commit()

    assert sms.send(person.phone, "no") == [
        "No problem, thanks for letting us know. Text SHIFTS for other shifts."
    ]
    db.expire_all()
    assert confirmed_on(db, shift.id) == []
    ask = db.scalars(select(CallOutAsk).where(CallOutAsk.callout_id == callout.id)).one()
    assert ask.answer == "no"
    assert ask.answered_at is not None
    still_open = db.get_one(CallOut, callout.id)
    assert (still_open.status, still_open.filled) == (CallOutStatus.OPEN, 0)


def test_yes_from_someone_already_on_the_shift_is_already(
    db: Session, place: Community, sms: SmsHelper
) -> None:
    now = datetime.now(UTC)
    person = volunteer(db, place, 1)
    shift = urgent_shift(db, place, now, capacity=2)
    callout = callouts.start_callout(db, shift, place, 1, "", now)
    rosters.claim(db, person, place, shift.id, now)
    db.commit()

    assert sms.send(person.phone, "YES")[0].startswith("You are already on Evacuation, ")
    db.expire_all()
    assert db.get_one(CallOut, callout.id).filled == 0


def test_next_wave_asks_new_people_only_and_nothing_once_filled(
    db: Session, place: Community, sms: SmsHelper, worker: Any
) -> None:
    now = datetime.now(UTC)
    people = [volunteer(db, place, i) for i in range(1, 6)]
    shift = urgent_shift(db, place, now)
    callout = callouts.start_callout(db, shift, place, 1, "", now)
    first_wave = asked_ids(db, callout.id, wave=1)
    assert first_wave == [p.id for p in people[:3]]  # WAVE_FACTOR x 1 missing place
    db.commit()
    wave_row = db.scalars(select(OutboxItem).where(OutboxItem.job == callouts.WAVE_JOB)).one()

    assert outbox_jobs.run_item(wave_row.id) == "asked 2"

    db.expire_all()
    assert asked_ids(db, callout.id, wave=2) == [people[3].id, people[4].id]
    assert count_messages(db, kind="callout") == 5  # nobody asked twice
    assert db.get_one(CallOut, callout.id).waves_sent == 2
    assert next_wave(callout.id) == "asked 0"  # everyone has been asked

    # a newcomer would be asked in a later wave, but not once the call-out has filled
    volunteer(db, place, 6)
    db.commit()
    assert sms.send(people[4].phone, "YES")[0].startswith("You are in!")
    db.expire_all()
    assert db.get_one(CallOut, callout.id).status == CallOutStatus.FILLED
    assert next_wave(callout.id) == "asked 0"
    db.expire_all()
    assert len(asked_ids(db, callout.id)) == 5
    assert count_messages(db, kind="callout") == 5
    assert next_wave(999_999) == "skipped: no call-out"


def test_waves_stop_after_the_last_one(db: Session, place: Community) -> None:
    now = datetime.now(UTC)
    volunteer(db, place, 1)
    shift = urgent_shift(db, place, now)
    callout = callouts.start_callout(db, shift, place, 1, "", now)
    for wave in range(2, callouts.MAX_WAVES + 1):
        callouts.send_wave(db, callout, now + callouts.WAVE_INTERVAL * (wave - 1))
    assert callout.waves_sent == callouts.MAX_WAVES
    assert callouts.send_wave(db, callout, now + timedelta(hours=2)) == 0
    wave_jobs = db.scalars(select(OutboxItem.dedupe_key).where(OutboxItem.job == callouts.WAVE_JOB))
    assert sorted(wave_jobs) == [
        f"callout-wave:{callout.id}:{n}" for n in range(2, callouts.MAX_WAVES + 1)
    ]


def test_cancelling_the_shift_stops_its_callout(
    db: Session, place: Community, worker: Any, fake_twilio: FakeTwilio
) -> None:
    now = datetime.now(UTC)
    people = [volunteer(db, place, i) for i in range(1, 6)]
    shift = urgent_shift(db, place, now)
    callout = callouts.start_callout(db, shift, place, 1, "", now)
    assert len(asked_ids(db, callout.id)) == 3

    rosters.cancel_shift(db, shift, place, now)

    assert callout.status == CallOutStatus.CLOSED
    assert callouts.send_wave(db, callout, now + callouts.WAVE_INTERVAL) == 0
    assert len(asked_ids(db, callout.id)) == 3
    db.commit()
    queued = ask_message(db, callout.id, people[0].id)
    assert dispatch.send_message(queued.id).startswith("suppressed:")
    assert fake_twilio.messages == []


def test_no_waves_once_the_shift_is_over(db: Session, place: Community) -> None:
    now = datetime.now(UTC)
    for i in range(1, 6):
        volunteer(db, place, i)
    shift = urgent_shift(db, place, now)
    callout = callouts.start_callout(db, shift, place, 1, "", now)

    assert callouts.send_wave(db, callout, shift.ends_at) == 0
    assert len(asked_ids(db, callout.id)) == 3
    assert callout.status == CallOutStatus.CLOSED


def test_a_yes_told_full_is_not_left_on_the_waitlist(db: Session, place: Community) -> None:
    now = datetime.now(UTC)
    asked = volunteer(db, place, 1)
    walk_in = volunteer(db, place, 2)
    shift = urgent_shift(db, place, now, capacity=1)
    callout = callouts.start_callout(db, shift, place, 1, "", now)
    # the call-out's place is taken from the SHIFTS menu before the YES arrives
    assert rosters.claim(db, walk_in, place, shift.id, now).outcome == "confirmed"

    result = callouts.answer(db, asked, place, callout.id, True, now)

    assert result.outcome == "full"
    assert db.scalars(select(Assignment).where(Assignment.volunteer_id == asked.id)).all() == []


def test_a_repeated_yes_keeps_the_moment_of_the_first_answer(
    db: Session, place: Community, sms: SmsHelper
) -> None:
    now = datetime.now(UTC)
    person = volunteer(db, place, 1)
    shift = urgent_shift(db, place, now, capacity=2)
    callout = callouts.start_callout(db, shift, place, 1, "", now)
    db.commit()

    def the_ask() -> CallOutAsk:
        db.expire_all()
        return db.scalars(select(CallOutAsk).where(CallOutAsk.callout_id == callout.id)).one()

    assert sms.send(person.phone, "YES")[0].startswith("You are in! Evacuation, ")
    first = the_ask()
    assert first.answer == "yes" and first.answered_at is not None
    answered_at = first.answered_at

    assert sms.send(person.phone, "YES")[0].startswith("You are already on Evacuation, ")
    again = the_ask()
    assert (again.answer, again.answered_at) == ("yes", answered_at)
    assert db.get_one(CallOut, callout.id).filled == 1
