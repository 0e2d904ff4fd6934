"""Console shift pages: create through the form (and refuse bad input, storing nothing), the
roster of volunteers who signed up by SMS, edit and move, cancel, attendance, call-outs,
viewers (403 on every change, masked numbers) and other communities (404)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.db import unit_of_work
from service.models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    CallOut,
    Community,
    Direction,
    Message,
    OutboxItem,
    Role,
    Shift,
    ShiftStatus,
    Volunteer,
)
from service.rosters import shifts as rosters
from service.volunteers.phones import mask
from tests.conftest import SmsHelper
from tests.service.console.conftest import ConsoleClient, MakeCoordinator

ZONE = ZoneInfo("America/New_York")
T = TypeVar("T")
ANA, BEN, CHI, DEV = (f"+1202555013{i}" for i in range(1, 5))


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in March 2030 in the test community's zone (far enough in the future)."""
    return datetime(2030, 3, day, hour, minute, tzinfo=ZONE)


def add_shift(
    factory: sessionmaker[Session],
    community: Community,
    *,
    capacity: int = 3,
    starts_at: datetime | None = None,
    title: str = "Sandbags",
) -> int:
    start = starts_at or local(2, 9)
    with unit_of_work(factory) as session:
        shift = rosters.add_shift(
            session,
            session.get_one(Community, community.id),
            title=title,
            place="School gym",
            starts_at=start,
            ends_at=start + timedelta(hours=4),
            capacity=capacity,
        )
        return shift.id


def read(factory: sessionmaker[Session], query: Callable[[Session], T]) -> T:
    with factory() as session:
        return query(session)


def get_shift(factory: sessionmaker[Session], shift_id: int) -> Shift:
    return read(factory, lambda s: s.get_one(Shift, shift_id))


def status_of(factory: sessionmaker[Session], shift_id: int, phone: str) -> AssignmentStatus:
    return read(
        factory,
        lambda s: s.scalars(
            select(Assignment.status)
            .join(Volunteer, Volunteer.id == Assignment.volunteer_id)
            .where(Assignment.shift_id == shift_id, Volunteer.phone == phone)
        ).one(),
    )


def assignment_id(factory: sessionmaker[Session], shift_id: int, phone: str) -> int:
    return read(
        factory,
        lambda s: s.scalars(
            select(Assignment.id)
            .join(Volunteer, Volunteer.id == Assignment.volunteer_id)
            .where(Assignment.shift_id == shift_id, Volunteer.phone == phone)
        ).one(),
    )


def audit_actions(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    return read(
        factory,
        lambda s: [
            (e.action, e.subject) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ],
    )


def sign_up(sms: SmsHelper, phone: str, name: str, choice: str = "1") -> str:
    """Join by text, list the open shifts and take one from the menu."""
    sms.join(phone, name)
    sms.send(phone, "SHIFTS")
    return sms.send(phone, choice)[0]


FORM = {
    "title": "Sandbag team",
    "place": "Riverside school gym",
    "starts": "2030-03-02T09:00",
    "ends": "2030-03-02T13:00",
    "capacity": "4",
    "skill": "",
}


# ----- create ------------------------------------------------------------------------------
def test_a_coordinator_creates_a_shift_in_the_community_time_zone(
    console: ConsoleClient, session_factory: sessionmaker[Session]
) -> None:
    page = console.text("/console/shifts/new")
    for name in ("title", "place", "starts", "ends", "capacity", "skill"):
        assert f'name="{name}"' in page
    assert 'type="datetime-local" name="starts"' in page

    response = console.post("/console/shifts/new", {**FORM, "skill": "Driver"})

    assert response.status_code == 302
    shifts = read(session_factory, lambda s: s.scalars(select(Shift)).all())
    assert len(shifts) == 1
    shift = shifts[0]
    assert response.headers["Location"].endswith(f"/console/shifts/{shift.id}")
    assert shift.title == "Sandbag team" and shift.place == "Riverside school gym"
    assert shift.starts_at == local(2, 9) and shift.ends_at == local(2, 13)  # 14:00 UTC
    assert (shift.capacity, shift.skill, shift.status) == (4, "driver", ShiftStatus.OPEN)
    assert ("created", f"shift:{shift.id}") in audit_actions(session_factory)

    listing = console.text("/console/shifts")
    assert "Sandbag team" in listing
    assert "Sat 02 Mar 09:00\u201313:00" in listing  # local time, not UTC
    assert 'class="fill"' in listing and "0/4" in listing


def test_a_bad_shift_is_refused_with_reasons_and_nothing_is_stored(
    console: ConsoleClient, session_factory: sessionmaker[Session]
) -> None:
    response = console.post(
        "/console/shifts/new",
        {**FORM, "starts": "2030-03-02T13:00", "ends": "2030-03-02T09:00", "capacity": "0"},
    )

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The shift must end after it starts." in page
    assert "Capacity must be between 1 and 10000." in page
    assert 'value="Sandbag team"' in page  # what was typed is kept
    assert 'aria-invalid="true" aria-describedby="ends-error"' in page
    assert read(session_factory, lambda s: s.scalar(select(func.count()).select_from(Shift))) == 0
    assert audit_actions(session_factory) == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"title": " "}, "Give the shift a title."),
        ({"starts": "tomorrow"}, "The start is not a date and time"),
        ({"starts": "2020-03-02T09:00", "ends": "2020-03-02T13:00"}, "The start is in the past."),
        ({"capacity": "lots"}, "Capacity must be a whole number"),
        ({"starts": "2030-03-10T02:30", "ends": "2030-03-10T05:00"}, "does not exist on that day"),
    ],
)
def test_other_bad_input_is_explained(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    changes: dict[str, str],
    reason: str,
) -> None:
    response = console.post("/console/shifts/new", {**FORM, **changes})
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert read(session_factory, lambda s: s.scalar(select(func.count()).select_from(Shift))) == 0


# ----- the roster --------------------------------------------------------------------------
def test_volunteers_who_sign_up_by_sms_are_on_the_roster(
    console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    shift_id = add_shift(session_factory, community, capacity=1)
    assert sign_up(sms, ANA, "Ana").startswith("You are on Sandbags")
    assert sign_up(sms, BEN, "Ben").startswith("Sandbags is full. You are number 1")
    assert sign_up(sms, CHI, "Chi").startswith("Sandbags is full. You are number 2")

    page = console.text(f"/console/shifts/{shift_id}")

    confirmed = page.split('id="confirmed"')[1].split('id="waitlist"')[0]
    waitlist = page.split('id="waitlist"')[1].split('id="attended"')[0]
    assert "Ana" in confirmed and ANA in confirmed  # a coordinator sees full numbers
    assert waitlist.index("Ben") < waitlist.index("Chi")
    assert 'data-position="1"' in waitlist and 'data-position="2"' in waitlist
    assert "1/1 +2 waiting" in page
    assert "Sat 02 Mar 09:00\u201313:00" in page
    listing = console.text("/console/shifts")
    assert "1/1 +2 waiting" in listing and 'data-status="full"' in listing


def test_roster_numbers_are_masked_when_the_community_protects_them(
    console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    shift_id = add_shift(session_factory, community)
    sign_up(sms, ANA, "Ana")
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).protect_numbers = True

    page = console.text(f"/console/shifts/{shift_id}")

    assert ANA not in page and mask(ANA) in page and "Ana" in page


def test_past_shifts_have_their_own_list(
    console: ConsoleClient, community: Community, session_factory: sessionmaker[Session]
) -> None:
    add_shift(
        session_factory,
        community,
        title="Old cleanup",
        starts_at=local(1, 9) - timedelta(days=3650),
    )
    add_shift(session_factory, community, title="Sandbags")

    upcoming = console.text("/console/shifts")
    past = console.text("/console/shifts?when=past")

    assert "Sandbags" in upcoming and "Old cleanup" not in upcoming
    assert "/console/shifts?when=past" in upcoming
    assert "Old cleanup" in past and "Sandbags" not in past


# ----- edit, move, cancel ------------------------------------------------------------------
def test_editing_moves_the_shift_and_replans_reminders(
    console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    shift_id = add_shift(session_factory, community, capacity=1)
    sign_up(sms, ANA, "Ana")
    sign_up(sms, BEN, "Ben")  # waitlisted
    form = console.text(f"/console/shifts/{shift_id}/edit")
    assert 'value="2030-03-02T09:00"' in form  # local time in the form

    response = console.post(
        f"/console/shifts/{shift_id}/edit",
        {
            **FORM,
            "title": "Sandbags",
            "starts": "2030-03-03T10:00",
            "ends": "2030-03-03T14:00",
            "capacity": "2",
            "place": "Fire station",
        },
    )

    assert response.status_code == 302
    shift = get_shift(session_factory, shift_id)
    assert (shift.starts_at, shift.ends_at) == (local(3, 10), local(3, 14))
    assert (shift.place, shift.capacity, shift.schedule_version) == ("Fire station", 2, 1)
    assert status_of(session_factory, shift_id, BEN) == AssignmentStatus.CONFIRMED  # promoted
    assert shift.confirmed_count == 2 and shift.status == ShiftStatus.FULL
    reminders = read(
        session_factory,
        lambda s: s.scalars(
            select(OutboxItem.payload).where(OutboxItem.job == rosters.REMINDER_JOB)
        ).all(),
    )
    assert {p["version"] for p in reminders} == {0, 1}  # version 1 planned for the new time
    promoted = read(
        session_factory,
        lambda s: s.scalars(
            select(Message.body).where(Message.to_address == BEN, Message.kind == "notice")
        ).all(),
    )
    assert any(body.startswith("A place opened") for body in promoted)
    assert ("changed", f"shift:{shift_id}") in audit_actions(session_factory)


def test_capacity_cannot_go_below_the_places_taken(
    console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    shift_id = add_shift(session_factory, community, capacity=3)
    sign_up(sms, ANA, "Ana")
    sign_up(sms, BEN, "Ben")

    response = console.post(
        f"/console/shifts/{shift_id}/edit",
        {**FORM, "title": "Renamed", "capacity": "1"},
    )

    assert response.status_code == 400
    assert "Capacity cannot go below the 2 place(s) already taken." in response.get_data(
        as_text=True
    )
    shift = get_shift(session_factory, shift_id)
    assert (shift.title, shift.capacity, shift.schedule_version) == ("Sandbags", 3, 0)


def test_cancelling_tells_everyone_on_the_shift(
    console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    shift_id = add_shift(session_factory, community, capacity=1)
    sign_up(sms, ANA, "Ana")
    sign_up(sms, BEN, "Ben")
    page = console.text(f"/console/shifts/{shift_id}")
    assert f'action="/console/shifts/{shift_id}/cancel"' in page and "data-confirm=" in page

    response = console.post(f"/console/shifts/{shift_id}/cancel")

    assert response.status_code == 302
    assert get_shift(session_factory, shift_id).status == ShiftStatus.CANCELLED
    told = read(
        session_factory,
        lambda s: s.execute(
            select(Message.to_address, Message.body).where(
                Message.direction == Direction.OUTBOUND, Message.body.contains("is cancelled")
            )
        ).all(),
    )
    assert sorted(to for to, _ in told) == sorted([ANA, BEN])
    assert ("cancelled", f"shift:{shift_id}") in audit_actions(session_factory)
    page = console.text(f"/console/shifts/{shift_id}")
    assert 'data-status="cancelled"' in page and "/cancel" not in page
    # Cancelling again tells nobody twice.
    console.post(f"/console/shifts/{shift_id}/cancel")
    assert (
        len(
            read(
                session_factory,
                lambda s: s.scalars(
                    select(Message.id).where(Message.body.contains("is cancelled"))
                ).all(),
            )
        )
        == 2
    )


# ----- attendance ----------------------------------------------------------------------------
def test_attendance_corrections(
    console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    shift_id = add_shift(session_factory, community, capacity=2)
    sign_up(sms, ANA, "Ana")
    sign_up(sms, BEN, "Ben")
    ana, ben = (
        assignment_id(session_factory, shift_id, ANA),
        assignment_id(session_factory, shift_id, BEN),
    )

    assert (
        console.post(f"/console/assignments/{ana}/attendance", {"status": "no_show"}).status_code
        == 302
    )
    response = console.post(
        f"/console/assignments/{ben}/attendance", {"status": "checked_out", "hours": "2.5"}
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/console/shifts/{shift_id}#a{ben}")
    assert status_of(session_factory, shift_id, ANA) == AssignmentStatus.NO_SHOW
    assert status_of(session_factory, shift_id, BEN) == AssignmentStatus.CHECKED_OUT
    minutes = read(session_factory, lambda s: s.get_one(Assignment, ben).minutes_served)
    assert minutes == 150
    page = console.text(f"/console/shifts/{shift_id}")
    no_shows = page.split('id="no-shows"')[1].split('id="dropped"')[0]
    attended = page.split('id="attended"')[1].split('id="no-shows"')[0]
    assert "Ana" in no_shows and "Ben" in attended and "2.5 h" in attended
    assert [a for a, _ in audit_actions(session_factory)].count("attendance") == 2


def test_attendance_refuses_someone_without_a_place(
    console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    shift_id = add_shift(session_factory, community, capacity=1)
    sign_up(sms, ANA, "Ana")
    sign_up(sms, BEN, "Ben")  # waitlisted
    ben = assignment_id(session_factory, shift_id, BEN)

    waitlisted = console.post(f"/console/assignments/{ben}/attendance", {"status": "no_show"})
    bogus = console.post(f"/console/assignments/{ben}/attendance", {"status": "gone"})
    hours = console.post(
        f"/console/assignments/{assignment_id(session_factory, shift_id, ANA)}/attendance",
        {"status": "checked_out", "hours": "30"},
    )

    assert waitlisted.status_code == bogus.status_code == hours.status_code == 400
    assert "holds a place" in waitlisted.get_data(as_text=True)
    assert "Hours must be 0 to 24." in hours.get_data(as_text=True)
    assert status_of(session_factory, shift_id, BEN) == AssignmentStatus.WAITLISTED
    assert status_of(session_factory, shift_id, ANA) == AssignmentStatus.CONFIRMED


# ----- call-outs -----------------------------------------------------------------------------
def test_a_call_out_texts_qualified_volunteers(
    console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    shift_id = add_shift(session_factory, community, capacity=1)
    sign_up(sms, ANA, "Ana")  # on the shift: not asked
    for phone, name in ((BEN, "Ben"), (CHI, "Chi"), (DEV, "Dev")):
        sms.join(phone, name)

    response = console.post(
        f"/console/shifts/{shift_id}/call-out", {"need": "2", "text": "Bring boots"}
    )

    assert response.status_code == 302
    asks = read(
        session_factory,
        lambda s: s.execute(
            select(Message.to_address, Message.body).where(Message.kind == "callout")
        ).all(),
    )
    assert sorted(to for to, _ in asks) == sorted([BEN, CHI, DEV])
    assert all("Bring boots" in body and "we need 2 people" in body for _, body in asks)
    callout = read(session_factory, lambda s: s.scalars(select(CallOut)).one())
    assert (callout.need, callout.waves_sent) == (2, 1)
    assert get_shift(session_factory, shift_id).capacity == 3  # room for the YES replies
    assert ("call-out", f"shift:{shift_id}") in audit_actions(session_factory)
    page = console.text(f"/console/shifts/{shift_id}")
    assert "0 of 2 filled" in page and "Call-out started: 3 volunteer(s) asked" in page

    # A YES by text fills a place, and the roster shows it.
    sms.send(BEN, "YES")
    assert status_of(session_factory, shift_id, BEN) == AssignmentStatus.CONFIRMED
    assert "1 of 2 filled" in console.text(f"/console/shifts/{shift_id}")


def test_a_call_out_needs_a_sensible_number(
    console: ConsoleClient, community: Community, session_factory: sessionmaker[Session]
) -> None:
    shift_id = add_shift(session_factory, community)
    for need in ("0", "many", "501"):
        response = console.post(f"/console/shifts/{shift_id}/call-out", {"need": need})
        assert response.status_code == 400
    assert read(session_factory, lambda s: s.scalar(select(func.count()).select_from(CallOut))) == 0


# ----- roles and tenants -----------------------------------------------------------------------
def test_viewers_see_masked_numbers_and_change_nothing(
    viewer_console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    shift_id = add_shift(session_factory, community)
    sign_up(sms, ANA, "Ana")
    ana = assignment_id(session_factory, shift_id, ANA)

    page = viewer_console.text(f"/console/shifts/{shift_id}")
    assert "Ana" in page and mask(ANA) in page and ANA not in page
    assert "/attendance" not in page and "/cancel" not in page and "/call-out" not in page
    assert "/console/shifts/new" not in viewer_console.text("/console/shifts")
    for path, data in (
        ("/console/shifts/new", FORM),
        (f"/console/shifts/{shift_id}/edit", FORM),
        (f"/console/shifts/{shift_id}/cancel", {}),
        (f"/console/assignments/{ana}/attendance", {"status": "no_show"}),
        (f"/console/shifts/{shift_id}/call-out", {"need": "1"}),
    ):
        assert viewer_console.post(path, data).status_code == 403, path
    assert viewer_console.get("/console/shifts/new").status_code == 403
    assert viewer_console.get(f"/console/shifts/{shift_id}/edit").status_code == 403
    shift = get_shift(session_factory, shift_id)
    assert (shift.status, shift.title) == (ShiftStatus.OPEN, "Sandbags")
    assert status_of(session_factory, shift_id, ANA) == AssignmentStatus.CONFIRMED
    assert read(session_factory, lambda s: s.scalar(select(func.count()).select_from(Shift))) == 1


def test_another_communitys_shift_is_not_found(
    console_for: Callable[[], ConsoleClient],
    make_coordinator: MakeCoordinator,
    other_community: Community,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    shift_id = add_shift(session_factory, community, title="Riverside only")
    sign_up(sms, ANA, "Ana")
    ana = assignment_id(session_factory, shift_id, ANA)
    make_coordinator(other_community, "hill@example.org", Role.COORDINATOR)
    outsider = console_for()
    assert outsider.login("hill@example.org").status_code == 302

    for path in (f"/console/shifts/{shift_id}", f"/console/shifts/{shift_id}/edit"):
        assert outsider.get(path).status_code == 404, path
    for path, data in (
        (f"/console/shifts/{shift_id}/edit", FORM),
        (f"/console/shifts/{shift_id}/cancel", {}),
        (f"/console/assignments/{ana}/attendance", {"status": "no_show"}),
        (f"/console/shifts/{shift_id}/call-out", {"need": "1"}),
    ):
        assert outsider.post(path, data).status_code == 404, path
    assert "Riverside only" not in outsider.text("/console/shifts")
    assert get_shift(session_factory, shift_id).status == ShiftStatus.OPEN
    assert status_of(session_factory, shift_id, ANA) == AssignmentStatus.CONFIRMED
