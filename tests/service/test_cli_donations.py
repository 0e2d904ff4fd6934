"""Donation commands: add-need, needs, donation-settings and mark-pledge.

The clock is frozen on Monday 4 March 2030 (New York) so "the next cycle" is Saturday 9 March
whatever the real date; the CLI runs in-process and reads the same clock.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service import clock
from service.models import (
    Community,
    CycleNeed,
    DonationSchedule,
    Need,
    Pledge,
    PledgeStatus,
    Volunteer,
)
from service.rosters import donations
from tests.service.conftest import Cli, one_line_error

ZONE = ZoneInfo("America/New_York")
MONDAY = datetime(2030, 3, 4, 10, 0, tzinfo=ZONE)
ANA, BEN = "+12025550131", "+12025550132"
HEADER = ["item", "target", "pledged", "delivered", "unit"]


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    clock.freeze(MONDAY)
    yield
    clock.freeze(None)


def add_need(cli: Cli, item: str, quantity: str, unit: str = "", day: str = "saturday") -> int:
    args = ["add-need", "--community", "riverside", "--cycle-day", day, "--item", item]
    result = cli(*args, "--quantity", quantity, *(["--unit", unit] if unit else []))
    assert result.exit_code == 0, result.output
    return int(result.stdout.strip())


def needs(cli: Cli) -> list[list[str]]:
    result = cli("needs", "--community", "riverside")
    assert result.exit_code == 0, result.output
    return list(csv.reader(io.StringIO(result.stdout)))


def settings_of(db: Session) -> DonationSchedule:
    db.expire_all()
    return db.scalars(select(DonationSchedule)).one()


def volunteer(db: Session, community: Community, phone: str) -> Volunteer:
    person = Volunteer(
        community_id=community.id, phone=phone, name="V", status=VolunteerStatus.ACTIVE
    )
    db.add(person)
    db.flush()
    return person


def pledge(db: Session, community: Community, phone: str, item: str, quantity: int) -> int:
    """``phone`` pledges ``quantity`` of ``item`` for the next cycle; returns the pledge id."""
    place = db.get_one(Community, community.id)
    cycle = donations.next_cycle(db, place, MONDAY)
    assert cycle is not None
    row = db.scalars(
        select(CycleNeed)
        .join(Need, Need.id == CycleNeed.need_id)
        .where(CycleNeed.cycle_id == cycle.id, Need.item == item)
    ).one()
    person = volunteer(db, place, phone)
    result = donations.pledge(db, person, place, row.id, quantity, MONDAY)
    assert result.outcome == "pledged"
    pledge_id = db.scalars(select(Pledge.id).where(Pledge.volunteer_id == person.id)).one()
    db.commit()
    return pledge_id


# ----- add-need ---------------------------------------------------------------------------------
def test_add_need_prints_the_new_needs_id(cli: Cli, community: Community, db: Session) -> None:
    rice = add_need(cli, "Rice", "20", "kg", day="Sat")
    drivers = add_need(cli, "Drivers for route 3", "2", "people", day="saturday")

    assert drivers == rice + 1
    db.expire_all()
    rows = db.scalars(select(Need).order_by(Need.id)).all()
    assert [(n.id, n.item, n.target, n.unit, n.active) for n in rows] == [
        (rice, "Rice", 20, "kg", True),
        (drivers, "Drivers for route 3", 2, "people", True),
    ]
    assert {n.community_id for n in rows} == {community.id}
    assert settings_of(db).weekday == 5
    add_need(cli, "Oil", "10", "L", day="sunday")  # the cycle day follows the latest need
    assert settings_of(db).weekday == 6


@pytest.mark.parametrize(
    ("day", "item", "quantity", "expected"),
    [
        ("someday", "Rice", "20", "--cycle-day 'someday' is not a weekday"),
        ("saturday", "Rice", "0", "--quantity must be between 1 and 100000"),
        ("saturday", "Rice", "-4", "--quantity must be between 1 and 100000"),
        ("saturday", "x" * 61, "20", "--item must be 1 to 60 characters"),
        ("saturday", "  ", "20", "--item must be 1 to 60 characters"),
    ],
)
def test_add_need_rejects_bad_input_with_one_line(
    cli: Cli, community: Community, db: Session, day: str, item: str, quantity: str, expected: str
) -> None:
    result = cli(
        "add-need",
        "--community",
        "riverside",
        "--cycle-day",
        day,
        "--item",
        item,
        "--quantity",
        quantity,
    )
    assert expected in one_line_error(result)
    assert db.scalar(select(func.count()).select_from(Need)) == 0


def test_add_need_for_an_unknown_community_fails_with_one_line(
    cli: Cli, community: Community
) -> None:
    result = cli(
        "add-need", "--community", "nowhere", "--cycle-day", "sat", "--item", "R", "--quantity", "1"
    )
    assert "nowhere" in one_line_error(result)


# ----- needs ------------------------------------------------------------------------------------
def test_needs_prints_the_next_cycles_coverage(cli: Cli, community: Community, db: Session) -> None:
    assert needs(cli) == [HEADER]  # no donation roster yet
    add_need(cli, "Rice", "20", "kg")
    add_need(cli, "Oil", "10", "L")
    add_need(cli, "Drivers, route 3", "2")
    assert needs(cli) == [
        HEADER,
        ["Rice", "20", "0", "0", "kg"],
        ["Oil", "10", "0", "0", "L"],
        ["Drivers, route 3", "2", "0", "0", ""],
    ]

    pledge(db, community, ANA, "Rice", 5)
    pledge(db, community, BEN, "Oil", 10)

    assert needs(cli)[1:3] == [["Rice", "20", "5", "0", "kg"], ["Oil", "10", "10", "0", "L"]]
    # after Saturday's window the next cycle is the following week's, not yet covered
    clock.freeze(datetime(2030, 3, 9, 12, 0, tzinfo=ZONE))
    assert needs(cli)[1:3] == [["Rice", "20", "0", "0", "kg"], ["Oil", "10", "0", "0", "L"]]


def test_needs_neutralizes_spreadsheet_formulas(cli: Cli, community: Community) -> None:
    add_need(cli, "=HYPERLINK(1)", "3")
    rows = needs(cli)
    assert rows[1][0] != "=HYPERLINK(1)" and rows[1][0].endswith("=HYPERLINK(1)")


# ----- donation-settings ------------------------------------------------------------------------
def settings_cmd(cli: Cli, *args: str) -> str:
    result = cli("donation-settings", "--community", "riverside", *args)
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip())


def test_donation_settings_sets_place_window_reminder_and_gap_hours(
    cli: Cli, community: Community, db: Session
) -> None:
    shown = settings_cmd(
        cli,
        "--cycle-day",
        "friday",
        "--place",
        "  Church hall ",
        "--window",
        "09:00-11:30",
        "--reminder-time",
        "17:45",
        "--gap-hours",
        "24",
    )

    assert shown == (
        "riverside: every Friday, 09:00-11:30 at Church hall; reminder the day before at 17:45;"
        " gap asks 24h before"
    )
    schedule = settings_of(db)
    assert (schedule.weekday, schedule.every_days, schedule.place) == (4, None, "Church hall")
    assert (schedule.window_start_minute, schedule.window_end_minute) == (540, 690)
    assert (schedule.reminder_minute, schedule.gap_ask_hours) == (17 * 60 + 45, 24)
    # without options it shows the settings and changes nothing
    assert settings_cmd(cli) == shown
    db.commit()
    assert donations.next_day(settings_of(db), db.get_one(Community, community.id), MONDAY) == (
        date(2030, 3, 8)
    )


def test_donation_settings_every_n_days_from_a_first_day(
    cli: Cli, community: Community, db: Session
) -> None:
    shown = settings_cmd(cli, "--every-days", "14", "--first-day", "2030-03-06")

    assert shown.startswith("riverside: every 14 days from 2030-03-06, 10:00-12:00 at (no place)")
    schedule = settings_of(db)
    assert (schedule.every_days, schedule.anchor) == (14, date(2030, 3, 6))
    place = db.get_one(Community, community.id)
    assert donations.next_day(schedule, place, MONDAY) == date(2030, 3, 6)
    assert donations.next_day(schedule, place, datetime(2030, 3, 7, tzinfo=ZONE)) == (
        date(2030, 3, 20)
    )
    db.commit()
    # a need's weekday does not turn it back into a weekly cycle; --cycle-day does
    add_need(cli, "Rice", "20", "kg", day="monday")
    assert settings_of(db).every_days == 14
    assert settings_cmd(cli, "--cycle-day", "mon").startswith("riverside: every Monday,")
    assert (settings_of(db).every_days, settings_of(db).weekday) == (None, 0)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--window", "11:00-09:00"], "--window must end after it starts"),
        (["--window", "10:00-10:00"], "--window must end after it starts"),
        (["--window", "10:00"], "--window '' is not HH:MM"),
        (["--window", "25:00-26:00"], "--window '25:00' is not a time of day"),
        (["--reminder-time", "7pm"], "--reminder-time '7pm' is not HH:MM"),
        (["--every-days", "7"], "--every-days needs --first-day"),
        (["--every-days", "7", "--first-day", "06/03/2030"], "--first-day '06/03/2030' is not"),
        (["--cycle-day", "caturday"], "--cycle-day 'caturday' is not a weekday"),
    ],
)
def test_donation_settings_rejects_bad_input_and_changes_nothing(
    cli: Cli, community: Community, db: Session, args: list[str], expected: str
) -> None:
    before = settings_cmd(cli, "--place", "Church hall")

    result = cli("donation-settings", "--community", "riverside", "--place", "Elsewhere", *args)

    assert expected in one_line_error(result)
    assert settings_cmd(cli) == before
    assert settings_of(db).every_days is None


@pytest.mark.parametrize(
    "args",
    [["--gap-hours", "0"], ["--every-days", "0", "--first-day", "2030-03-06"]],
)
def test_donation_settings_range_checks(cli: Cli, community: Community, args: list[str]) -> None:
    result = cli("donation-settings", "--community", "riverside", *args)
    assert result.exit_code == 2
    assert "is not in the range" in result.stderr


# ----- mark-pledge ------------------------------------------------------------------------------
def test_mark_pledge_delivered_then_missed_updates_pledge_and_coverage(
    cli: Cli, community: Community, db: Session
) -> None:
    add_need(cli, "Rice", "20", "kg")
    ana = pledge(db, community, ANA, "Rice", 5)
    pledge(db, community, BEN, "Rice", 3)
    mark = ["mark-pledge", "--community", "riverside", "--item", "rice"]

    delivered = cli(*mark, "--phone", "(202) 555-0131", "--status", "delivered")

    assert delivered.exit_code == 0, delivered.output
    assert delivered.stdout.strip() == f"{ANA}: rice delivered"
    db.expire_all()
    assert db.get_one(Pledge, ana).status == PledgeStatus.DELIVERED
    assert needs(cli)[1] == ["Rice", "20", "8", "5", "kg"]

    missed = cli(*mark, "--phone", ANA, "--status", "missed")
    assert missed.exit_code == 0, missed.output
    db.expire_all()
    assert db.get_one(Pledge, ana).status == PledgeStatus.MISSED
    assert needs(cli)[1] == ["Rice", "20", "8", "0", "kg"]

    assert cli(*mark, "--phone", BEN, "--status", "delivered").exit_code == 0
    assert cli(*mark, "--phone", ANA, "--status", "delivered").exit_code == 0
    assert needs(cli)[1] == ["Rice", "20", "8", "8", "kg"]


@pytest.mark.parametrize(
    ("phone", "item", "expected"),
    [
        (BEN, "Rice", f"{BEN} has no pledge of 'Rice'"),
        (ANA, "Oil", f"{ANA} has no pledge of 'Oil'"),
        ("not a phone", "Rice", "not a phone"),
    ],
)
def test_mark_pledge_of_an_unknown_pledge_fails_with_one_line(
    cli: Cli, community: Community, db: Session, phone: str, item: str, expected: str
) -> None:
    add_need(cli, "Rice", "20", "kg")
    add_need(cli, "Oil", "10", "L")
    pledge(db, community, ANA, "Rice", 5)

    result = cli(
        "mark-pledge",
        "--community",
        "riverside",
        "--phone",
        phone,
        "--item",
        item,
        "--status",
        "delivered",
    )

    assert expected in one_line_error(result)
    assert needs(cli)[1:] == [["Rice", "20", "5", "0", "kg"], ["Oil", "10", "0", "0", "L"]]


def test_mark_pledge_ignores_dropped_pledges(cli: Cli, community: Community, db: Session) -> None:
    add_need(cli, "Rice", "20", "kg")
    pledge_id = pledge(db, community, ANA, "Rice", 5)
    person = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    place = db.get_one(Community, community.id)
    assert donations.drop_pledge(db, person, place, pledge_id, MONDAY).outcome == "dropped"

    result = cli(
        "mark-pledge",
        "--community",
        "riverside",
        "--phone",
        ANA,
        "--item",
        "Rice",
        "--status",
        "delivered",
    )

    assert "has no pledge of 'Rice'" in one_line_error(result)
    assert needs(cli)[1] == ["Rice", "20", "0", "0", "kg"]


def test_mark_pledge_marks_the_current_cycle_not_next_weeks(
    cli: Cli, community: Community, db: Session
) -> None:
    add_need(cli, "Rice", "20", "kg")
    today = pledge(db, community, ANA, "Rice", 5)  # for Saturday 9 March
    saturday_noon = datetime(2030, 3, 9, 12, 30, tzinfo=ZONE)
    place = db.get_one(Community, community.id)
    person = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    following = donations.next_cycle(db, place, saturday_noon)  # Saturday 16 March
    assert following is not None and following.day == date(2030, 3, 16)
    row = db.scalars(select(CycleNeed).where(CycleNeed.cycle_id == following.id)).one()
    assert donations.pledge(db, person, place, row.id, 4, saturday_noon).outcome == "pledged"
    db.commit()
    clock.freeze(saturday_noon)

    result = cli(
        "mark-pledge",
        "--community",
        "riverside",
        "--phone",
        ANA,
        "--item",
        "Rice",
        "--status",
        "delivered",
    )

    assert result.exit_code == 0, result.output
    db.expire_all()
    assert db.get_one(Pledge, today).status == PledgeStatus.DELIVERED
