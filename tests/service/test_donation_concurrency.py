"""Concurrent pledges through signed webhooks never push a need past its target.

Each thread posts through its own test client, like separate gunicorn workers, and replies at
the same moment (a barrier), either to a gap ask ("3") or from the GIVE menu ("1 3"). The
20-way race runs on PostgreSQL (row locks and the CHECK constraint); a smaller one runs
everywhere. The clock is frozen on Monday 4 March 2030, before the Saturday 9 March drop-off.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flows.donations import DonationQuestion
from flows.engine import VolunteerStatus
from service import clock
from service.conversations.questions import ask_question
from service.models import Community, Cycle, CycleNeed, Pledge, PledgeStatus, Volunteer
from service.rosters import donations
from tests.conftest import SmsHelper

T = TypeVar("T")
pytestmark = pytest.mark.usefixtures("separate_processes")

needs_postgres = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL"),
        reason="the pledge race needs PostgreSQL (set TEST_DATABASE_URL)",
    ),
]
WAIT = 60  # seconds a thread waits for the others at the starting line
MONDAY = datetime(2030, 3, 4, 10, 0, tzinfo=ZoneInfo("America/New_York"))
TARGET, EACH = 20, 3
PLEDGED = f"Thank you! {EACH} kg Rice for Sat Mar 9 at Church hall."
CAPPED = f"Thank you! Only {TARGET % EACH} kg Rice was still needed for Sat Mar 9"
FULL = "Thank you! Rice is fully covered for Sat Mar 9 now."


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    clock.freeze(MONDAY)
    yield
    clock.freeze(None)


def in_threads(count: int, work: Callable[[int, threading.Barrier], T]) -> list[T]:
    """Run ``work(i, barrier)`` in ``count`` threads; re-raise the first failure."""
    barrier = threading.Barrier(count, timeout=WAIT)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, i, barrier) for i in range(count)]
        return [future.result(timeout=4 * WAIT) for future in futures]


def rice_roster(db: Session, community: Community, *, with_cycle: bool = True) -> int | None:
    """Rice, target 20 kg, every Saturday at the Church hall; the cycle need's id if made."""
    place = db.get_one(Community, community.id)
    donations.add_need(db, place, weekday=5, item="Rice", quantity=TARGET, unit="kg")
    donations.donation_schedule(db, place).place = "Church hall"
    if not with_cycle:
        return None
    cycle = donations.next_cycle(db, place, MONDAY)
    assert cycle is not None
    return db.scalars(select(CycleNeed.id).where(CycleNeed.cycle_id == cycle.id)).one()


def add_volunteers(db: Session, community: Community, count: int) -> list[Volunteer]:
    people = [
        Volunteer(
            community_id=community.id,
            phone=f"+1202555{n:04d}",
            name=f"V{n}",
            status=VolunteerStatus.ACTIVE,
            consent_at=MONDAY,
            consent_source="test",
        )
        for n in range(1, count + 1)
    ]
    db.add_all(people)
    db.flush()
    return people


@pytest.mark.parametrize(
    ("people", "via"),
    [
        pytest.param(8, "gap", id="8-gap-replies"),
        pytest.param(8, "menu", id="8-menu-replies"),
        pytest.param(20, "gap", id="20-gap-replies", marks=needs_postgres),
        pytest.param(20, "menu", id="20-menu-replies", marks=needs_postgres),
    ],
)
def test_concurrent_pledges_never_exceed_the_target(
    app: Flask, db: Session, community: Community, people: int, via: str
) -> None:
    cycle_need_id = rice_roster(db, community)
    assert cycle_need_id is not None
    volunteers = add_volunteers(db, community, people)
    ends_at = db.get_one(Cycle, db.get_one(CycleNeed, cycle_need_id).cycle_id).ends_at
    if via == "gap":
        for person in volunteers:
            ask_question(person, DonationQuestion.GAP, cycle_need_id, ends_at)  # as a gap ask does
    phones = [person.phone for person in volunteers]
    db.commit()

    def give(i: int, barrier: threading.Barrier) -> str:
        helper = SmsHelper(app.test_client())
        if via == "menu":
            menu = helper.send(phones[i], "GIVE")
            assert menu and "1) Rice: 20 of 20 kg still needed" in menu[0], menu
        barrier.wait()  # everyone pledges at the same moment
        reply = helper.send(phones[i], f"1 {EACH}" if via == "menu" else str(EACH))
        assert len(reply) == 1, reply
        return reply[0]

    replies = in_threads(people, give)

    pledged = [r for r in replies if r.startswith(PLEDGED)]
    capped = [r for r in replies if r.startswith(CAPPED)]
    full = [r for r in replies if r.startswith(FULL)]
    assert (len(pledged), len(capped), len(full)) == (
        TARGET // EACH,
        1,
        people - TARGET // EACH - 1,
    ), replies
    db.expire_all()
    row = db.get_one(CycleNeed, cycle_need_id)
    assert (row.pledged, row.target) == (TARGET, TARGET)
    rows = db.scalars(select(Pledge).where(Pledge.cycle_need_id == cycle_need_id)).all()
    assert sum(p.quantity for p in rows) == TARGET
    assert {p.status for p in rows} == {PledgeStatus.PLEDGED}
    by_phone = {db.get_one(Volunteer, p.volunteer_id).phone: p.quantity for p in rows}
    for number, reply in zip(phones, replies, strict=True):
        expected = EACH if reply in pledged else TARGET % EACH if reply in capped else None
        assert by_phone.get(number) == expected, (number, reply)
    # and the database itself refuses a total above the target
    db.commit()
    with pytest.raises(IntegrityError):
        db.execute(
            update(CycleNeed).where(CycleNeed.id == cycle_need_id).values(pledged=TARGET + 1)
        )
    db.rollback()


@pytest.mark.parametrize(
    "people", [pytest.param(6, id="6"), pytest.param(20, id="20", marks=needs_postgres)]
)
def test_concurrent_first_give_creates_the_cycle_once(
    app: Flask, db: Session, community: Community, people: int
) -> None:
    rice_roster(db, community, with_cycle=False)  # no cycle yet: the first GIVE makes it
    phones = [person.phone for person in add_volunteers(db, community, people)]
    db.commit()

    def give(i: int, barrier: threading.Barrier) -> list[str]:
        helper = SmsHelper(app.test_client())
        barrier.wait()
        return helper.send(phones[i], "GIVE")

    replies = in_threads(people, give)

    for reply in replies:
        assert len(reply) == 1 and "1) Rice: 20 of 20 kg still needed" in reply[0], reply
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Cycle)) == 1
    assert db.scalar(select(func.count()).select_from(CycleNeed)) == 1
