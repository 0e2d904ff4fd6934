"""Concurrent signed webhooks: capacity holds when many reply for the last places at once,
one volunteer's messages are processed one at a time, and call-outs fill exactly.

Each thread posts through its own test client, like separate gunicorn workers. The 50-way
sign-up runs on PostgreSQL (the database-level guarantee); a smaller race runs everywhere.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service.models import (
    Assignment,
    AssignmentStatus,
    CallOut,
    CallOutStatus,
    Community,
    Direction,
    Message,
    MessageStatus,
    Shift,
    ShiftStatus,
    Volunteer,
)
from service.rosters import callouts
from service.rosters import shifts as rosters
from tests.conftest import SmsHelper, not_none

T = TypeVar("T")
pytestmark = pytest.mark.usefixtures("separate_processes")

needs_postgres = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL"),
        reason="the capacity race needs PostgreSQL (set TEST_DATABASE_URL)",
    ),
]
WAIT = 60  # seconds a thread waits for the others at the starting line
ANA = "+12025550123"


def phone(n: int) -> str:
    return f"+1202555{n:04d}"


def add_volunteers(db: Session, community: Community, count: int) -> list[Volunteer]:
    people = [
        Volunteer(
            community_id=community.id,
            phone=phone(n),
            name=f"V{n}",
            status=VolunteerStatus.ACTIVE,
            consent_at=datetime.now(UTC),
            consent_source="test",
        )
        for n in range(1, count + 1)
    ]
    db.add_all(people)
    db.flush()
    return people


def add_shift(db: Session, community: Community, capacity: int) -> Shift:
    starts = datetime.now(UTC) + timedelta(days=2)
    return rosters.add_shift(
        db,
        db.get_one(Community, community.id),
        title="Sandbags",
        place="School gym",
        starts_at=starts,
        ends_at=starts + timedelta(hours=4),
        capacity=capacity,
    )


def in_threads(count: int, work: Callable[[int, threading.Barrier], T]) -> list[T]:
    """Run ``work(i, barrier)`` in ``count`` threads; re-raise the first failure."""
    barrier = threading.Barrier(count, timeout=WAIT)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, i, barrier) for i in range(count)]
        return [future.result(timeout=4 * WAIT) for future in futures]


def inbound_count(db: Session) -> int:
    return int(
        db.scalar(
            select(func.count()).select_from(Message).where(Message.direction == Direction.INBOUND)
        )
        or 0
    )


# ----- many volunteers, few places ------------------------------------------------------------
def sign_up_race(app: Flask, db: Session, community: Community, people: int, places: int) -> None:
    shift_id = add_shift(db, community, places).id
    volunteers = add_volunteers(db, community, people)
    db.commit()

    def sign_up(i: int, barrier: threading.Barrier) -> str:
        helper = SmsHelper(app.test_client())
        number = volunteers[i].phone
        menu = helper.send(number, "SHIFTS")
        assert menu and menu[0].startswith("Open shifts:\n1) Sandbags"), menu
        barrier.wait()  # everyone replies "1" at the same moment
        reply = helper.send(number, "1")
        assert len(reply) == 1, reply
        return reply[0]

    replies = in_threads(people, sign_up)

    confirmed = [r for r in replies if r.startswith("You are on Sandbags")]
    waitlisted = [r for r in replies if r.startswith("Sandbags is full. You are number ")]
    assert len(confirmed) == places
    assert len(waitlisted) == people - places
    db.expire_all()
    shift = db.get_one(Shift, shift_id)
    assert (shift.confirmed_count, shift.capacity, shift.status) == (
        places,
        places,
        ShiftStatus.FULL,
    )
    rows = db.scalars(select(Assignment).where(Assignment.shift_id == shift_id)).all()
    by_volunteer = {a.volunteer_id: a for a in rows}
    assert len(rows) == len(by_volunteer) == people
    for person, reply in zip(volunteers, replies, strict=True):
        assignment = by_volunteer[person.id]
        if reply in confirmed:
            assert assignment.status == AssignmentStatus.CONFIRMED
            continue
        assert assignment.status == AssignmentStatus.WAITLISTED
        told = re.search(r"number (\d+) ", reply)
        assert told is not None, reply
        # claims are serialised on the shift's row, so the place told is the real one
        assert int(told.group(1)) == rosters.waitlist_position(db, assignment)
    positions = sorted(
        rosters.waitlist_position(db, a) for a in rows if a.status == AssignmentStatus.WAITLISTED
    )
    assert positions == list(range(1, people - places + 1))  # a strict order, no ties


@pytest.mark.parametrize(
    ("people", "places"),
    [pytest.param(12, 3, id="12-for-3"), pytest.param(50, 5, id="50-for-5", marks=needs_postgres)],
)
def test_concurrent_sign_ups_never_exceed_capacity(
    app: Flask, db: Session, community: Community, people: int, places: int
) -> None:
    sign_up_race(app, db, community, people, places)


# ----- one volunteer, many messages ---------------------------------------------------------------
def test_twenty_concurrent_menu_replies_from_one_phone_book_one_place(
    app: Flask, db: Session, community: Community
) -> None:
    shift_id = add_shift(db, community, 5).id
    db.add(
        Volunteer(community_id=community.id, phone=ANA, name="Ana", status=VolunteerStatus.ACTIVE)
    )
    db.commit()
    count = 20

    def pair(i: int, barrier: threading.Barrier) -> tuple[list[str], list[str], str, list[str]]:
        helper = SmsHelper(app.test_client())
        barrier.wait()
        shifts_reply = helper.send(ANA, "SHIFTS")
        form = helper.form(ANA, "1")
        number_reply = helper.post("/twilio/inbound", form)
        assert number_reply.status == 200, number_reply.raw
        retry = helper.post("/twilio/inbound", form)  # Twilio retrying the same MessageSid
        assert retry.status == 200, retry.raw
        return shifts_reply, number_reply.texts, form["MessageSid"], retry.texts

    results = in_threads(count, pair)

    for shifts_reply, number_reply, _, retry in results:
        assert len(shifts_reply) == 1 and shifts_reply[0]
        assert len(number_reply) == 1 and number_reply[0]
        assert retry == number_reply  # the stored reply, not a second run
    all_replies = [text for r in results for text in (*r[0], *r[1])]
    assert sum(text.startswith("You are on Sandbags") for text in all_replies) == 1
    # Menus stay open after a sign-up (issue 14), so a "1" that follows the booking is told
    # the place is already theirs; none books twice or joins the waitlist.
    assert not [t for t in all_replies if "waitlist" in t]
    already = [t for t in all_replies if "already" in t]
    assert all(t.startswith("You are already signed up for Sandbags") for t in already)

    db.expire_all()
    volunteer = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    assignments = db.scalars(
        select(Assignment).where(Assignment.volunteer_id == volunteer.id)
    ).all()
    assert [(a.shift_id, a.status) for a in assignments] == [(shift_id, AssignmentStatus.CONFIRMED)]
    assert db.get_one(Shift, shift_id).confirmed_count == 1
    inbound = db.scalars(select(Message).where(Message.direction == Direction.INBOUND)).all()
    assert len(inbound) == 2 * count  # each MessageSid stored once
    assert {m.status for m in inbound} == {MessageStatus.PROCESSED}
    assert {m.volunteer_id for m in inbound} == {volunteer.id}
    replied_to = db.scalars(
        select(Message.reply_to_id).where(Message.direction == Direction.OUTBOUND)
    ).all()
    assert sorted(not_none(replied_to)) == sorted(
        m.id for m in inbound
    )  # one reply each, none twice


def test_twenty_concurrent_pause_and_resume_leave_a_consistent_status(
    app: Flask, db: Session, community: Community
) -> None:
    db.add(
        Volunteer(community_id=community.id, phone=ANA, name="Ana", status=VolunteerStatus.ACTIVE)
    )
    db.commit()
    count = 20
    texts = ["PAUSE 2w" if i % 2 == 0 else "RESUME" for i in range(count)]

    def send(i: int, barrier: threading.Barrier) -> list[str]:
        helper = SmsHelper(app.test_client())
        barrier.wait()
        return helper.send(ANA, texts[i])

    replies = in_threads(count, send)

    for text, reply in zip(texts, replies, strict=True):
        assert len(reply) == 1
        expected = "Paused until " if text == "PAUSE 2w" else "Welcome back!"
        assert reply[0].startswith(expected), (text, reply)
    db.expire_all()
    assert inbound_count(db) == count
    volunteer = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    # the message processed last decides (reply ids follow processing order under the lock)
    last_reply = db.scalars(
        select(Message).where(Message.direction == Direction.OUTBOUND).order_by(Message.id.desc())
    ).first()
    assert last_reply is not None and last_reply.reply_to_id is not None
    last_text = db.get_one(Message, last_reply.reply_to_id).body
    if last_text == "PAUSE 2w":
        assert volunteer.status == VolunteerStatus.PAUSED
        assert volunteer.paused_until is not None
        assert volunteer.paused_until > datetime.now(UTC) + timedelta(days=13)
    else:
        assert last_text == "RESUME"
        assert (volunteer.status, volunteer.paused_until) == (VolunteerStatus.ACTIVE, None)


# ----- a call-out filled by concurrent YES replies ------------------------------------------------
@pytest.mark.parametrize(("people", "need"), [(10, 3)])
def test_concurrent_yes_replies_fill_a_callout_exactly(
    app: Flask, db: Session, community: Community, people: int, need: int
) -> None:
    place = db.get_one(Community, community.id)
    place.quiet_start_minute = place.quiet_end_minute = 0  # the real clock may be at night
    volunteers = add_volunteers(db, place, people)
    shift = add_shift(db, place, 1)
    now = datetime.now(UTC)
    callout = callouts.start_callout(db, shift, place, need, "", now)
    while callouts.send_wave(db, callout, now):  # ask everyone (a wave asks 3 per place)
        pass
    callout_id, shift_id = callout.id, shift.id
    db.commit()
    for person in volunteers:
        db.refresh(person)
        assert person.pending_question is not None
        assert person.pending_question["id"] == callout_id

    def yes(i: int, barrier: threading.Barrier) -> str:
        helper = SmsHelper(app.test_client())
        barrier.wait()
        reply = helper.send(volunteers[i].phone, "YES")
        assert len(reply) == 1, reply
        return reply[0]

    replies = in_threads(people, yes)

    assert sum(r.startswith("You are in! Sandbags") for r in replies) == need
    assert sum(r.startswith("Thank you! All places for Sandbags are filled") for r in replies) == (
        people - need
    )
    db.expire_all()
    filled = db.get_one(CallOut, callout_id)
    assert (filled.filled, filled.status) == (need, CallOutStatus.FILLED)
    shift_now = db.get_one(Shift, shift_id)
    assert shift_now.confirmed_count == need
    rows = db.scalars(select(Assignment).where(Assignment.shift_id == shift_id)).all()
    assert sorted(a.status for a in rows) == [AssignmentStatus.CONFIRMED] * need
