"""The console dashboard: upcoming shifts with fill bars, the next donation cycle's coverage,
recent inbound texts, delivery problems with readable reasons, volunteers who paused or opted
out; masked for viewers, scoped to the community, and a fixed number of queries however many
volunteers and shifts there are."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import clock
from service.db import unit_of_work
from service.models import (
    Assignment,
    AssignmentStatus,
    Community,
    Direction,
    Message,
    MessageStatus,
    Role,
    Volunteer,
)
from service.rosters import donations
from service.rosters import shifts as rosters
from service.volunteers.phones import mask
from tests.conftest import COMMUNITY_NUMBER, SmsHelper
from tests.service.console.conftest import ConsoleClient, MakeCoordinator

ANA, BEN, CHI, DEV, EVE = (f"+1202555015{i}" for i in range(1, 6))


def add_shift(
    factory: sessionmaker[Session], community: Community, title: str, capacity: int, days: int = 2
) -> int:
    start = clock.now() + timedelta(days=days)
    with unit_of_work(factory) as session:
        return rosters.add_shift(
            session,
            session.get_one(Community, community.id),
            title=title,
            place="School gym",
            starts_at=start,
            ends_at=start + timedelta(hours=3),
            capacity=capacity,
        ).id


def failed_text(
    factory: sessionmaker[Session], community: Community, phone: str, code: int
) -> None:
    """A text the carrier could not deliver, as the status callback leaves it."""
    with unit_of_work(factory) as session:
        volunteer = session.query(Volunteer).filter_by(phone=phone).one()
        volunteer.unreachable_at = clock.now()
        session.add(
            Message(
                community_id=community.id,
                volunteer_id=volunteer.id,
                direction=Direction.OUTBOUND,
                kind="reminder",
                from_address=COMMUNITY_NUMBER,
                to_address=phone,
                body="Reminder: Sandbags",
                status=MessageStatus.UNDELIVERED,
                error_code=code,
                error_message="Unreachable destination handset",
            )
        )


def section(page: str, section_id: str) -> str:
    return page.split(f'id="{section_id}"')[1].split("</section>")[0]


def test_the_dashboard_shows_what_needs_attention(
    console: ConsoleClient,
    app: Flask,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    sandbags = add_shift(session_factory, community, "Sandbags", capacity=1)
    add_shift(session_factory, community, "Pantry", capacity=4, days=3)
    with unit_of_work(session_factory) as session:
        donations.add_need(
            session, session.get_one(Community, community.id), weekday=5, item="Rice", quantity=20
        )
    for phone, name in ((ANA, "Ana"), (BEN, "Ben"), (CHI, "Chi"), (DEV, "Dev"), (EVE, "Eve")):
        sms.join(phone, name)
    sms.send(ANA, "SHIFTS")
    sms.send(ANA, "1")  # Ana gets the place
    sms.send(BEN, "SHIFTS")
    sms.send(BEN, "2")  # Ben waits: the full Sandbags is listed last
    sms.send(CHI, "GIVE")
    sms.send(CHI, "1 5")
    sms.send(CHI, "where do I park my truck?")
    sms.send(DEV, "PAUSE")
    sms.send(EVE, "STOP")
    failed_text(session_factory, community, BEN, 30003)

    page = console.text("/console/")

    assert 'class="cards"' in page
    shifts = section(page, "upcoming-shifts")
    assert shifts.index("Sandbags") < shifts.index("Pantry")  # soonest first
    assert "1/1 +1 waiting" in shifts and "0/4" in shifts
    assert f"/console/shifts/{sandbags}" in shifts
    cycle = section(page, "next-donations")
    assert "Rice" in cycle and "5/20" in cycle
    texts = section(page, "recent-texts")
    assert "where do I park my truck?" in texts and "Chi" in texts
    assert ("/console/inbox" in texts) == ("console.inbox" in app.config["CONSOLE_ENDPOINTS"])
    problems = section(page, "delivery-problems")
    assert "Ben" in problems and BEN in problems
    assert "the phone is unreachable (switched off or out of coverage) (30003)" in problems
    assert 'class="plain unreachable"' in problems
    stepped_back = section(page, "stepped-back")
    assert "Dev" in stepped_back and "paused" in stepped_back
    assert "Eve" in stepped_back and "opted out" in stepped_back
    assert "Ana" not in stepped_back


def test_an_empty_community_has_a_calm_dashboard(console: ConsoleClient) -> None:
    page = console.text("/console/")
    assert "No upcoming shifts." in page and "No donation roster yet." in page
    assert "No texts yet." in page and "None in the last week." in page


def test_viewers_see_masked_numbers(
    viewer_console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "hello?")
    failed_text(session_factory, community, ANA, 30005)

    page = viewer_console.text("/console/")

    assert "Ana" in page and mask(ANA) in page and ANA not in page
    assert "/console/shifts/new" not in page


def test_another_community_sees_none_of_it(
    console_for: Callable[[], ConsoleClient],
    make_coordinator: MakeCoordinator,
    other_community: Community,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    add_shift(session_factory, community, "Riverside sandbags", capacity=2)
    sms.join(ANA, "Ana")
    sms.send(ANA, "Riverside question")
    failed_text(session_factory, community, ANA, 30003)
    make_coordinator(other_community, "hill@example.org", Role.COORDINATOR)
    outsider = console_for()
    assert outsider.login("hill@example.org").status_code == 302

    page = outsider.text("/console/")

    for leak in ("Riverside sandbags", "Riverside question", "Ana", ANA, mask(ANA)):
        assert leak not in page


@contextmanager
def counting_queries(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = app.extensions["handsup"].engine

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def crowd(
    factory: sessionmaker[Session], community: Community, volunteers: int, shifts: int, first: int
) -> int:
    """``volunteers`` volunteers (some paused, some unreachable) spread over ``shifts`` shifts
    of 8 places (the rest waitlisted), each with an inbound text and a failed one; returns the
    first shift's id."""
    now = clock.now()
    with unit_of_work(factory) as session:
        place = session.get_one(Community, community.id)
        people = [
            Volunteer(
                community_id=place.id,
                phone=f"+1202556{n:04d}",
                name=f"V{n}",
                status=VolunteerStatus.PAUSED if n % 50 == 0 else VolunteerStatus.ACTIVE,
                unreachable_at=now if n % 60 == 0 else None,
            )
            for n in range(first, first + volunteers)
        ]
        session.add_all(people)
        made = [
            rosters.add_shift(
                session,
                place,
                title=f"Shift {first + k}",
                place="Depot",
                starts_at=now + timedelta(days=1, hours=k),
                ends_at=now + timedelta(days=1, hours=k + 2),
                capacity=8,
            )
            for k in range(shifts)
        ]
        session.flush()
        for n, person in enumerate(people):
            shift = made[n % shifts]
            holds_place = shift.confirmed_count < shift.capacity
            shift.confirmed_count += holds_place
            status = AssignmentStatus.CONFIRMED if holds_place else AssignmentStatus.WAITLISTED
            session.add(
                Assignment(shift_id=shift.id, volunteer_id=person.id, status=status, queue_seq=n)
            )
            for direction, state in (
                (Direction.INBOUND, MessageStatus.PROCESSED),
                (Direction.OUTBOUND, MessageStatus.FAILED),
            ):
                session.add(
                    Message(
                        community_id=place.id,
                        volunteer_id=person.id,
                        direction=direction,
                        from_address=person.phone,
                        to_address=person.phone,
                        body="hi",
                        status=state,
                        error_code=30003,
                    )
                )
        return made[0].id


def test_pages_cost_the_same_few_queries_with_500_volunteers_and_50_shifts(
    console: ConsoleClient,
    app: Flask,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    def cost(path: str) -> int:
        with counting_queries(app) as statements:
            console.text(path)
        return len(statements)

    with unit_of_work(session_factory) as session:
        donations.add_need(
            session, session.get_one(Community, community.id), weekday=5, item="Rice", quantity=9
        )
    small = crowd(session_factory, community, volunteers=4, shifts=2, first=0)
    pages = ("/console/", "/console/shifts", f"/console/shifts/{small}", "/console/donations")
    before = {path: cost(path) for path in pages}

    crowd(session_factory, community, volunteers=500, shifts=50, first=1000)
    with unit_of_work(session_factory) as session:  # the small shift's roster grows too
        for n in range(20):
            person = Volunteer(community_id=community.id, phone=f"+1202557{n:04d}", name=f"W{n}")
            session.add(person)
            session.flush()
            session.add(
                Assignment(
                    shift_id=small,
                    volunteer_id=person.id,
                    status=AssignmentStatus.WAITLISTED,
                    queue_seq=100 + n,
                )
            )
    after = {path: cost(path) for path in pages}

    assert after == before
    assert max(after.values()) <= 20
    assert "W19" in console.text(f"/console/shifts/{small}")
