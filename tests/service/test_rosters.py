"""Shift rosters in the service layer: claims against capacity, the waitlist, drops and
promotion, check-in and out, no-shows, cancellation, moves and reminder scheduling.

Every call gets an explicit ``now``; nothing here depends on the real clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service.communities.registry import create_community
from service.models import (
    Assignment,
    AssignmentStatus,
    Community,
    Message,
    MessageStatus,
    OutboxItem,
    Priority,
    Roster,
    Shift,
    ShiftStatus,
    Volunteer,
)
from service.rosters import shifts as rosters
from tests.conftest import count_messages, not_none

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)  # Fri 1 March 2030, 07:00 in New York
START = NOW + timedelta(days=2)  # Sun 3 March 2030, 07:00 in New York
END = START + timedelta(hours=4)


@pytest.fixture
def place(db: Session, community: Community) -> Community:
    """The test community, attached to the test's session."""
    return db.get_one(Community, community.id)


def volunteer(
    db: Session,
    community: Community,
    n: int,
    *,
    status: VolunteerStatus = VolunteerStatus.ACTIVE,
    skills: list[str] | None = None,
) -> Volunteer:
    person = Volunteer(
        community_id=community.id,
        phone=f"+1202555{n:04d}",
        name=f"V{n}",
        status=status,
        skills=skills or [],
    )
    db.add(person)
    db.flush()
    return person


def shift(
    db: Session,
    community: Community,
    *,
    capacity: int = 2,
    starts_at: datetime = START,
    ends_at: datetime | None = None,
    title: str = "Sandbags",
    skill: str | None = None,
) -> Shift:
    return rosters.add_shift(
        db,
        community,
        title=title,
        place="School gym",
        starts_at=starts_at,
        ends_at=ends_at or starts_at + timedelta(hours=4),
        capacity=capacity,
        skill=skill,
    )


def assignment_of(db: Session, shift_id: int, person: Volunteer) -> Assignment:
    return db.scalars(
        select(Assignment).where(
            Assignment.shift_id == shift_id, Assignment.volunteer_id == person.id
        )
    ).one()


def reload(db: Session, obj: object) -> None:
    db.flush()
    db.refresh(obj)


def reminder_rows(db: Session, assignment_id: int | None = None) -> list[OutboxItem]:
    rows = db.scalars(
        select(OutboxItem).where(OutboxItem.job == rosters.REMINDER_JOB).order_by(OutboxItem.id)
    ).all()
    return [r for r in rows if assignment_id is None or r.payload["assignment_id"] == assignment_id]


# ----- claims and the waitlist ---------------------------------------------------------------
def test_claims_confirm_until_capacity_then_waitlist_in_order(
    db: Session, place: Community
) -> None:
    sandbags = shift(db, place, capacity=2)
    people = [volunteer(db, place, i) for i in range(4)]

    results = [
        rosters.claim(db, p, place, sandbags.id, NOW + timedelta(minutes=i))
        for i, p in enumerate(people)
    ]

    assert [r.outcome for r in results] == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    assert [r.position for r in results[2:]] == [1, 2]
    assert results[0].shift.title == "Sandbags"
    assert results[0].shift.place == "School gym"
    assert results[0].shift.when == "Sun Mar 3, 7am"  # community time zone (New York)
    reload(db, sandbags)
    assert sandbags.confirmed_count == 2
    assert sandbags.status == ShiftStatus.FULL
    statuses = [assignment_of(db, sandbags.id, p).status for p in people]
    assert statuses == [AssignmentStatus.CONFIRMED] * 2 + [AssignmentStatus.WAITLISTED] * 2
    assert [
        rosters.waitlist_position(db, assignment_of(db, sandbags.id, p)) for p in people[2:]
    ] == [
        1,
        2,
    ]


def test_told_waitlist_positions_stay_true_when_requests_finish_out_of_order(
    db: Session, place: Community
) -> None:
    sandbags = shift(db, place, capacity=1)
    rosters.claim(db, volunteer(db, place, 1), place, sandbags.id, NOW)
    slow, fast = volunteer(db, place, 2), volunteer(db, place, 3)
    # the slow request arrived first but got the lock second
    told_fast = rosters.claim(db, fast, place, sandbags.id, NOW + timedelta(seconds=2))
    told_slow = rosters.claim(db, slow, place, sandbags.id, NOW + timedelta(seconds=1))

    assert sorted([told_fast.position, told_slow.position]) == [1, 2]
    assert rosters.waitlist_position(db, assignment_of(db, sandbags.id, fast)) == (
        told_fast.position
    )


def test_status_is_open_while_places_remain(db: Session, place: Community) -> None:
    sandbags = shift(db, place, capacity=2)
    assert rosters.claim(db, volunteer(db, place, 1), place, sandbags.id, NOW).outcome == (
        "confirmed"
    )
    reload(db, sandbags)
    assert (sandbags.status, sandbags.confirmed_count) == (ShiftStatus.OPEN, 1)


def test_a_second_claim_is_already_for_confirmed_and_waitlisted(
    db: Session, place: Community
) -> None:
    sandbags = shift(db, place, capacity=1)
    first, second = volunteer(db, place, 1), volunteer(db, place, 2)
    rosters.claim(db, first, place, sandbags.id, NOW)
    rosters.claim(db, second, place, sandbags.id, NOW)

    again = rosters.claim(db, first, place, sandbags.id, NOW + timedelta(minutes=1))
    assert again.outcome == "already"
    assert again.shift.title == "Sandbags"
    assert rosters.claim(db, second, place, sandbags.id, NOW).outcome == "already"
    reload(db, sandbags)
    assert sandbags.confirmed_count == 1
    assert len(db.scalars(select(Assignment)).all()) == 2
    assert len(reminder_rows(db)) == 2  # the first claim's reminders, not doubled


def test_claims_on_cancelled_past_missing_or_foreign_shifts_are_closed(
    db: Session, place: Community
) -> None:
    other = create_community(
        db,
        name="Hilltop Pantry",
        slug="hilltop",
        number="+12025550177",
        country="US",
        timezone="America/Chicago",
    )
    foreign = shift(db, other)
    cancelled = shift(db, place)
    rosters.cancel_shift(db, cancelled, place, NOW)
    past = shift(db, place, starts_at=NOW - timedelta(hours=1))
    starting_now = shift(db, place, starts_at=NOW)
    person = volunteer(db, place, 1)

    for shift_id in (foreign.id, cancelled.id, past.id, starting_now.id, 999_999):
        assert rosters.claim(db, person, place, shift_id, NOW).outcome == "closed", shift_id
    assert db.scalars(select(Assignment)).all() == []
    reload(db, foreign)
    assert foreign.confirmed_count == 0


def test_a_dropped_volunteer_can_claim_again(db: Session, place: Community) -> None:
    sandbags = shift(db, place, capacity=1)
    person = volunteer(db, place, 1)
    first = rosters.claim(db, person, place, sandbags.id, NOW)
    assert first.outcome == "confirmed"
    mine = assignment_of(db, sandbags.id, person)
    assert rosters.drop(db, person, place, mine.id, NOW).outcome == "dropped"
    assert rosters.claim(db, person, place, sandbags.id, NOW).outcome == "confirmed"
    reload(db, mine)
    assert (mine.status, mine.dropped_at) == (AssignmentStatus.CONFIRMED, None)
    reload(db, sandbags)
    assert sandbags.confirmed_count == 1


# ----- drop and promotion ----------------------------------------------------------------------
def test_drop_of_a_confirmed_place_promotes_the_first_waitlisted(
    db: Session, place: Community
) -> None:
    sandbags = shift(db, place, capacity=1)
    ana, ben, chi = (volunteer(db, place, i) for i in (1, 2, 3))
    for i, person in enumerate((ana, ben, chi)):
        rosters.claim(db, person, place, sandbags.id, NOW + timedelta(minutes=i))
    ana_place = assignment_of(db, sandbags.id, ana)
    ben_place = assignment_of(db, sandbags.id, ben)
    assert reminder_rows(db, ben_place.id) == []  # no reminders while waitlisted

    result = rosters.drop(db, ana, place, ana_place.id, NOW + timedelta(hours=1))

    assert result.outcome == "dropped"
    assert result.shift.title == "Sandbags"
    reload(db, ana_place)
    assert ana_place.status == AssignmentStatus.DROPPED
    assert ana_place.dropped_at == NOW + timedelta(hours=1)
    reload(db, ben_place)
    assert ben_place.status == AssignmentStatus.CONFIRMED
    chi_place = assignment_of(db, sandbags.id, chi)
    assert chi_place.status == AssignmentStatus.WAITLISTED
    assert rosters.waitlist_position(db, chi_place) == 1
    reload(db, sandbags)
    assert (sandbags.confirmed_count, sandbags.status) == (1, ShiftStatus.FULL)

    notices = db.scalars(select(Message).where(Message.kind == "notice")).all()
    assert [(m.volunteer_id, m.to_address, m.status) for m in notices] == [
        (ben.id, ben.phone, MessageStatus.PENDING)
    ]
    assert notices[0].body.startswith(
        "A place opened: you are now on Sandbags, Sun Mar 3, 7am at School gym."
    )
    # the row is its own outbox entry: due now, first in the dispatch order
    assert (notices[0].priority, notices[0].enqueued_at) == (Priority.URGENT, None)
    # the promoted volunteer now gets the usual reminders
    assert sorted(r.available_at for r in reminder_rows(db, ben_place.id)) == [
        START - timedelta(hours=24),
        START - timedelta(hours=2),
    ]


def test_drop_frees_a_place_and_reopens_a_full_shift(db: Session, place: Community) -> None:
    sandbags = shift(db, place, capacity=2)
    ana, ben = volunteer(db, place, 1), volunteer(db, place, 2)
    rosters.claim(db, ana, place, sandbags.id, NOW)
    rosters.claim(db, ben, place, sandbags.id, NOW)
    reload(db, sandbags)
    assert sandbags.status == ShiftStatus.FULL

    rosters.drop(db, ben, place, assignment_of(db, sandbags.id, ben).id, NOW)

    reload(db, sandbags)
    assert (sandbags.status, sandbags.confirmed_count) == (ShiftStatus.OPEN, 1)
    assert count_messages(db, kind="notice") == 0  # nobody to promote, nobody told


def test_claims_and_drops_keep_the_sessions_shift_current(db: Session, place: Community) -> None:
    # The place-taking and status UPDATEs return the row, so the shift in the session (the
    # one a caller holds) is current without a refresh or another SELECT.
    sandbags = shift(db, place, capacity=1)
    ana, ben = volunteer(db, place, 1), volunteer(db, place, 2)
    rosters.claim(db, ana, place, sandbags.id, NOW)
    assert (sandbags.status, sandbags.confirmed_count) == (ShiftStatus.FULL, 1)
    rosters.drop(db, ana, place, assignment_of(db, sandbags.id, ana).id, NOW)
    assert (sandbags.status, sandbags.confirmed_count) == (ShiftStatus.OPEN, 0)
    rosters.claim(db, ben, place, sandbags.id, NOW)
    assert (sandbags.status, sandbags.confirmed_count) == (ShiftStatus.FULL, 1)


def test_drop_of_a_waitlist_place_keeps_the_confirmed_count(db: Session, place: Community) -> None:
    sandbags = shift(db, place, capacity=1)
    ana, ben, chi = (volunteer(db, place, i) for i in (1, 2, 3))
    for i, person in enumerate((ana, ben, chi)):
        rosters.claim(db, person, place, sandbags.id, NOW + timedelta(minutes=i))

    rosters.drop(db, ben, place, assignment_of(db, sandbags.id, ben).id, NOW)

    reload(db, sandbags)
    assert (sandbags.confirmed_count, sandbags.status) == (1, ShiftStatus.FULL)
    assert assignment_of(db, sandbags.id, ana).status == AssignmentStatus.CONFIRMED
    assert rosters.waitlist_position(db, assignment_of(db, sandbags.id, chi)) == 1
    assert count_messages(db, kind="notice") == 0


def test_drop_of_someone_elses_or_an_inactive_assignment_is_not_found(
    db: Session, place: Community
) -> None:
    sandbags = shift(db, place, capacity=1)
    ana, ben = volunteer(db, place, 1), volunteer(db, place, 2)
    rosters.claim(db, ana, place, sandbags.id, NOW)
    ana_place = assignment_of(db, sandbags.id, ana)

    assert rosters.drop(db, ben, place, ana_place.id, NOW).outcome == "not_found"
    assert rosters.drop(db, ana, place, 999_999, NOW).outcome == "not_found"
    reload(db, ana_place)
    assert ana_place.status == AssignmentStatus.CONFIRMED
    assert rosters.drop(db, ana, place, ana_place.id, NOW).outcome == "dropped"
    assert rosters.drop(db, ana, place, ana_place.id, NOW).outcome == "not_found"
    reload(db, sandbags)
    assert sandbags.confirmed_count == 0  # released once, not twice


def test_no_promotion_once_the_shift_has_started(db: Session, place: Community) -> None:
    sandbags = shift(db, place, capacity=1)
    ana, ben = volunteer(db, place, 1), volunteer(db, place, 2)
    rosters.claim(db, ana, place, sandbags.id, NOW)
    rosters.claim(db, ben, place, sandbags.id, NOW)

    rosters.drop(db, ana, place, assignment_of(db, sandbags.id, ana).id, START + timedelta(hours=1))

    assert assignment_of(db, sandbags.id, ben).status == AssignmentStatus.WAITLISTED
    assert count_messages(db, kind="notice") == 0


# ----- on the day ------------------------------------------------------------------------------
def test_check_in_window_opens_an_hour_before_the_start_and_closes_at_the_end(
    db: Session, place: Community
) -> None:
    sandbags = shift(db, place, capacity=2)
    early, late, waiting, nobody = (volunteer(db, place, i) for i in (1, 2, 3, 4))
    rosters.claim(db, early, place, sandbags.id, NOW)
    rosters.claim(db, late, place, sandbags.id, NOW)
    rosters.claim(db, waiting, place, sandbags.id, NOW)
    assert assignment_of(db, sandbags.id, waiting).status == AssignmentStatus.WAITLISTED

    too_early = rosters.check_in(db, early, place, START - timedelta(minutes=61))
    assert too_early.outcome == "no_shift"
    opened = rosters.check_in(db, early, place, START - timedelta(minutes=60))
    assert (opened.outcome, opened.shift.title) == ("checked_in", "Sandbags")
    mine = assignment_of(db, sandbags.id, early)
    assert (mine.status, mine.checked_in_at) == (
        AssignmentStatus.CHECKED_IN,
        START - timedelta(minutes=60),
    )
    assert rosters.check_in(db, early, place, START).outcome == "already_in"
    reload(db, mine)
    assert mine.checked_in_at == START - timedelta(minutes=60)  # the first check-in counts

    assert rosters.check_in(db, late, place, END).outcome == "no_shift"
    assert rosters.check_in(db, late, place, END - timedelta(minutes=1)).outcome == "checked_in"
    assert rosters.check_in(db, waiting, place, START).outcome == "no_shift"
    assert rosters.check_in(db, nobody, place, START).outcome == "no_shift"


def test_check_out_records_minutes_and_hours(db: Session, place: Community) -> None:
    sandbags = shift(db, place, capacity=2)
    ana, ben = volunteer(db, place, 1), volunteer(db, place, 2)
    rosters.claim(db, ana, place, sandbags.id, NOW)
    rosters.claim(db, ben, place, sandbags.id, NOW)
    assert rosters.check_out(db, ana, place, START).outcome == "not_in"

    rosters.check_in(db, ana, place, START - timedelta(minutes=10))
    out = rosters.check_out(db, ana, place, START + timedelta(minutes=80))
    assert (out.outcome, out.hours, out.shift.title) == ("checked_out", "1.5", "Sandbags")
    mine = assignment_of(db, sandbags.id, ana)
    assert mine.status == AssignmentStatus.CHECKED_OUT
    assert mine.minutes_served == 90
    assert mine.checked_out_at == START + timedelta(minutes=80)
    assert rosters.check_out(db, ana, place, START + timedelta(minutes=81)).outcome == "not_in"

    rosters.check_in(db, ben, place, START)
    assert rosters.check_out(db, ben, place, START + timedelta(hours=4)).hours == "4"
    assert assignment_of(db, sandbags.id, ben).minutes_served == 240


def test_no_shows_are_marked_only_after_the_end_plus_thirty_minutes(
    db: Session, place: Community
) -> None:
    sandbags = shift(db, place, capacity=4)
    later = shift(db, place, capacity=2, starts_at=START + timedelta(days=1), title="Later")
    absent, came, still_in, waiting, gone = (volunteer(db, place, i) for i in range(1, 6))
    for person in (absent, came, still_in):
        rosters.claim(db, person, place, sandbags.id, NOW)
    rosters.claim(db, gone, place, sandbags.id, NOW)
    rosters.drop(db, gone, place, assignment_of(db, sandbags.id, gone).id, NOW)
    sandbags.capacity = 3
    rosters.claim(db, waiting, place, sandbags.id, NOW)
    rosters.claim(db, absent, place, later.id, NOW)
    rosters.check_in(db, came, place, START)
    rosters.check_out(db, came, place, END)
    rosters.check_in(db, still_in, place, START)
    db.flush()

    assert rosters.mark_no_shows(db, END + timedelta(minutes=29)) == 0
    assert assignment_of(db, sandbags.id, absent).status == AssignmentStatus.CONFIRMED

    assert rosters.mark_no_shows(db, END + timedelta(minutes=30)) == 1
    db.expire_all()
    assert [assignment_of(db, sandbags.id, p).status for p in (absent, came, still_in)] == [
        AssignmentStatus.NO_SHOW,
        AssignmentStatus.CHECKED_OUT,
        AssignmentStatus.CHECKED_IN,
    ]
    assert assignment_of(db, sandbags.id, waiting).status == AssignmentStatus.WAITLISTED
    assert assignment_of(db, sandbags.id, gone).status == AssignmentStatus.DROPPED
    assert assignment_of(db, later.id, absent).status == AssignmentStatus.CONFIRMED
    assert db.get_one(Shift, sandbags.id).status == ShiftStatus.DONE
    assert db.get_one(Shift, later.id).status == ShiftStatus.OPEN
    assert rosters.mark_no_shows(db, END + timedelta(hours=2)) == 0  # idempotent


def test_set_attendance_corrects_a_no_show(db: Session, place: Community) -> None:
    sandbags = shift(db, place)
    person = volunteer(db, place, 1)
    rosters.claim(db, person, place, sandbags.id, NOW)
    rosters.mark_no_shows(db, END + timedelta(hours=1))
    db.expire_all()
    mine = assignment_of(db, sandbags.id, person)
    assert mine.status == AssignmentStatus.NO_SHOW

    rosters.set_attendance(db, mine, AssignmentStatus.CHECKED_OUT, 150)
    reload(db, mine)
    assert (mine.status, mine.minutes_served) == (AssignmentStatus.CHECKED_OUT, 150)

    rosters.set_attendance(db, mine, AssignmentStatus.NO_SHOW, None)
    reload(db, mine)
    assert (mine.status, mine.minutes_served) == (AssignmentStatus.NO_SHOW, 150)


@pytest.mark.parametrize(
    ("status", "minutes", "error"),
    [
        (AssignmentStatus.DROPPED, None, "status must be"),
        (AssignmentStatus.WAITLISTED, 30, "status must be"),
        (AssignmentStatus.CHECKED_OUT, -1, "minutes must be"),
        (AssignmentStatus.CHECKED_OUT, 24 * 60 + 1, "minutes must be"),
    ],
)
def test_set_attendance_refuses_bad_input(
    db: Session, place: Community, status: AssignmentStatus, minutes: int | None, error: str
) -> None:
    sandbags = shift(db, place)
    person = volunteer(db, place, 1)
    rosters.claim(db, person, place, sandbags.id, NOW)
    with pytest.raises(rosters.RosterError, match=error):
        rosters.set_attendance(db, assignment_of(db, sandbags.id, person), status, minutes)


# ----- coordinator changes -----------------------------------------------------------------------
def test_cancel_tells_every_confirmed_and_waitlisted_volunteer_once(
    db: Session, place: Community
) -> None:
    sandbags = shift(db, place, capacity=2)
    ana, ben, chi, dev = (volunteer(db, place, i) for i in (1, 2, 3, 4))
    rosters.claim(db, dev, place, sandbags.id, NOW)
    rosters.drop(db, dev, place, assignment_of(db, sandbags.id, dev).id, NOW)
    for person in (ana, ben, chi):
        rosters.claim(db, person, place, sandbags.id, NOW)
    assert assignment_of(db, sandbags.id, chi).status == AssignmentStatus.WAITLISTED

    assert rosters.cancel_shift(db, sandbags, place, NOW) == 3
    assert rosters.cancel_shift(db, sandbags, place, NOW + timedelta(minutes=5)) == 0
    db.flush()

    notices = db.scalars(select(Message).where(Message.kind == "notice")).all()
    assert sorted(not_none(m.volunteer_id for m in notices)) == sorted([ana.id, ben.id, chi.id])
    for message in notices:
        assert message.body.startswith("Sandbags, Sun Mar 3, 7am at School gym is cancelled.")
        assert message.status == MessageStatus.PENDING
    assert count_messages(db, kind="notice", volunteer_id=dev.id) == 0
    assert sandbags.status == ShiftStatus.CANCELLED
    assert {assignment_of(db, sandbags.id, p).status for p in (ana, ben, chi, dev)} == {
        AssignmentStatus.DROPPED
    }
    # a cancelled shift is not listed any more
    assert rosters.open_shifts_for(db, ana, place, NOW) == []


def test_move_schedules_new_reminders_for_the_new_time(db: Session, place: Community) -> None:
    sandbags = shift(db, place, capacity=2)
    ana, ben = volunteer(db, place, 1), volunteer(db, place, 2)
    rosters.claim(db, ana, place, sandbags.id, NOW)
    rosters.claim(db, ben, place, sandbags.id, NOW)
    mine = assignment_of(db, sandbags.id, ana)
    old = {(r.payload["offset"], r.payload["version"]) for r in reminder_rows(db, mine.id)}
    assert old == {(1440, 0), (120, 0)}

    new_start = START + timedelta(days=1, hours=3)
    rosters.move_shift(db, sandbags, new_start, new_start + timedelta(hours=2), NOW)

    rows = reminder_rows(db, mine.id)
    assert len(rows) == 4
    fresh = [r for r in rows if r.payload["version"] == 1]
    assert sorted(r.available_at for r in fresh) == [
        new_start - timedelta(hours=24),
        new_start - timedelta(hours=2),
    ]
    assert len(reminder_rows(db)) == 8  # both volunteers, old and new
    reload(db, sandbags)
    assert (sandbags.starts_at, sandbags.ends_at) == (new_start, new_start + timedelta(hours=2))
    with pytest.raises(rosters.RosterError):
        rosters.move_shift(db, sandbags, new_start, new_start, NOW)


# ----- reminder scheduling ----------------------------------------------------------------------
def test_default_reminders_are_24_hours_and_2_hours_before(db: Session, place: Community) -> None:
    sandbags = shift(db, place)
    person = volunteer(db, place, 1)
    rosters.claim(db, person, place, sandbags.id, NOW)
    mine = assignment_of(db, sandbags.id, person)

    rows = reminder_rows(db)
    assert [(r.payload, r.available_at, r.done_at) for r in rows] == [
        (
            {"assignment_id": mine.id, "offset": 1440, "booking": 1, "version": 0},
            START - timedelta(hours=24),
            None,
        ),
        (
            {"assignment_id": mine.id, "offset": 120, "booking": 1, "version": 0},
            START - timedelta(hours=2),
            None,
        ),
    ]
    # scheduling again adds nothing
    assert rosters.schedule_reminders(db, mine, sandbags, NOW) == 0
    assert len(reminder_rows(db)) == 2


@pytest.mark.parametrize(
    ("before_start", "offsets"),
    [
        (timedelta(minutes=90), []),  # even the 2 h reminder would be stale
        (timedelta(hours=3), [120]),
        (timedelta(hours=23), [120]),
        (timedelta(hours=25), [1440, 120]),
    ],
)
def test_late_sign_ups_get_no_stale_reminders(
    db: Session, place: Community, before_start: timedelta, offsets: list[int]
) -> None:
    sandbags = shift(db, place)
    rosters.claim(db, volunteer(db, place, 1), place, sandbags.id, START - before_start)
    assert [r.payload["offset"] for r in reminder_rows(db)] == offsets


def test_reminder_offsets_are_configurable_per_roster(db: Session, place: Community) -> None:
    sandbags = shift(db, place)
    db.get_one(Roster, sandbags.roster_id).reminder_offsets = [30]
    rosters.claim(db, volunteer(db, place, 1), place, sandbags.id, NOW)
    assert [r.available_at for r in reminder_rows(db)] == [START - timedelta(minutes=30)]


# ----- listing ----------------------------------------------------------------------------------
def test_open_shifts_lists_future_qualified_shifts_soonest_first(
    db: Session, place: Community
) -> None:
    later = shift(db, place, starts_at=START + timedelta(days=1), title="Later")
    sooner = shift(db, place, starts_at=START, title="Sooner")
    driving = shift(db, place, starts_at=START, title="Driving", skill="Driver")
    shift(db, place, starts_at=NOW - timedelta(hours=1), title="Past")
    mine = shift(db, place, title="Mine")
    cancelled = shift(db, place, title="Cancelled")
    rosters.cancel_shift(db, cancelled, place, NOW)
    full = shift(db, place, capacity=1, title="Full", starts_at=START + timedelta(days=2))
    person = volunteer(db, place, 1)
    driver = volunteer(db, place, 2, skills=["driver"])
    rosters.claim(db, person, place, mine.id, NOW)
    rosters.claim(db, driver, place, full.id, NOW)

    titles = [s.title for s in rosters.open_shifts_for(db, person, place, NOW)]
    assert titles == ["Sooner", "Later", "Full"]  # full shifts stay listed for the waitlist
    assert [s.id for s in rosters.open_shifts_for(db, driver, place, NOW)] == [
        sooner.id,
        driving.id,
        mine.id,
        later.id,
    ]
