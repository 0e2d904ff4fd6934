"""Donation rosters in the service layer: the schedule and its cycles, coverage, pledges capped
at what is missing, drops, DONE, coordinator marks and standing pledges.

Every call gets an explicit ``now`` (New York local times in March 2030); nothing here reads
the real clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flows.donations import NeedView
from flows.engine import VolunteerStatus
from service.communities.registry import create_community
from service.models import (
    Community,
    Cycle,
    CycleNeed,
    DonationSchedule,
    Need,
    OutboxItem,
    Pledge,
    PledgeStatus,
    Roster,
    RosterKind,
    StandingPledge,
    Volunteer,
)
from service.rosters import donations

ZONE = ZoneInfo("America/New_York")
SAT_9, SAT_16 = date(2030, 3, 9), date(2030, 3, 16)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A New York local time in March 2030 (Mon 4 ... Sat 9, Sat 16; DST starts Sun 10)."""
    return datetime(2030, 3, day, hour, minute, tzinfo=ZONE)


MONDAY = local(4, 10)


@pytest.fixture
def place(db: Session, community: Community) -> Community:
    """The test community, attached to the test's session."""
    return db.get_one(Community, community.id)


@pytest.fixture
def needs(db: Session, place: Community) -> tuple[Need, Need]:
    """Rice 20 kg and Oil 10 L every Saturday, 10:00-12:00 at the Church hall."""
    rice = donations.add_need(db, place, weekday=5, item="Rice", quantity=20, unit="kg")
    oil = donations.add_need(db, place, weekday=5, item="Oil", quantity=10, unit="L")
    donations.donation_schedule(db, place).place = "Church hall"
    db.flush()
    return rice, oil


def volunteer(
    db: Session, community: Community, n: int, status: VolunteerStatus = VolunteerStatus.ACTIVE
) -> Volunteer:
    person = Volunteer(
        community_id=community.id, phone=f"+1202555{n:04d}", name=f"V{n}", status=status
    )
    db.add(person)
    db.flush()
    return person


def cycle_needs(db: Session, cycle: Cycle) -> dict[str, CycleNeed]:
    rows = db.execute(
        select(Need.item, CycleNeed)
        .join(Need, Need.id == CycleNeed.need_id)
        .where(CycleNeed.cycle_id == cycle.id)
    ).all()
    return {item: row for item, row in rows}


def first_cycle(db: Session, place: Community) -> dict[str, CycleNeed]:
    """The coverage rows of the Saturday 9 March cycle, seen from Monday."""
    cycle = donations.next_cycle(db, place, MONDAY)
    assert cycle is not None and cycle.day == SAT_9
    return cycle_needs(db, cycle)


def second_cycle(db: Session, place: Community) -> dict[str, CycleNeed]:
    schedule = donations.donation_schedule(db, place)
    return cycle_needs(db, donations.cycle_for(db, schedule, place, SAT_16))


def fresh(db: Session, row: CycleNeed) -> CycleNeed:
    db.flush()
    db.refresh(row)
    return row


def pledge_of(db: Session, row: CycleNeed, person: Volunteer) -> Pledge:
    return db.scalars(
        select(Pledge).where(Pledge.cycle_need_id == row.id, Pledge.volunteer_id == person.id)
    ).one()


# ----- schedule and cycles ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "weekday"),
    [
        ("monday", 0),
        ("Saturday", 5),
        (" SUNDAY ", 6),
        ("sat", 5),
        ("Thu", 3),
        ("wed", 2),
    ],
)
def test_parse_weekday_accepts_full_and_three_letter_names(raw: str, weekday: int) -> None:
    assert donations.parse_weekday(raw) == weekday


@pytest.mark.parametrize("raw", ["funday", "", "sa", "satur", "6", "saturdays", "lunes"])
def test_parse_weekday_rejects_anything_else(raw: str) -> None:
    with pytest.raises(donations.DonationError, match=r"--cycle-day .* is not a weekday"):
        donations.parse_weekday(raw)


def test_the_schedule_is_created_once_per_community(db: Session, place: Community) -> None:
    first = donations.donation_schedule(db, place)
    assert (first.weekday, first.every_days, first.place) == (5, None, "")
    assert (first.window_start_minute, first.window_end_minute) == (600, 720)
    assert (first.reminder_minute, first.gap_ask_hours) == (18 * 60, 48)
    roster = db.get_one(Roster, first.roster_id)
    assert (roster.kind, roster.community_id) == (RosterKind.DONATIONS, place.id)

    again = donations.donation_schedule(db, place, weekday=2)
    assert again.id == first.id and again.weekday == 2
    assert db.scalar(select(func.count()).select_from(DonationSchedule)) == 1
    # a weekday given for a need does not turn an every-N-days schedule weekly
    again.every_days, again.anchor = 3, date(2030, 3, 6)
    assert donations.donation_schedule(db, place, weekday=0).weekday == 2


@pytest.mark.parametrize(
    ("item", "quantity", "unit", "field"),
    [
        ("", 5, "kg", "--item"),
        ("   ", 5, "kg", "--item"),
        ("x" * 61, 5, "kg", "--item"),
        ("Rice", 0, "kg", "--quantity"),
        ("Rice", -3, "kg", "--quantity"),
        ("Rice", 100_001, "kg", "--quantity"),
        ("Rice", 5, "k" * 21, "--unit"),
    ],
)
def test_add_need_rejects_bad_fields(
    db: Session, place: Community, item: str, quantity: int, unit: str, field: str
) -> None:
    with pytest.raises(donations.DonationError, match=field):
        donations.add_need(db, place, weekday=5, item=item, quantity=quantity, unit=unit)
    assert db.scalar(select(func.count()).select_from(Need)) == 0


def test_add_need_strips_and_keeps_the_fields(db: Session, place: Community) -> None:
    need = donations.add_need(db, place, weekday=6, item="  Rice ", quantity=20, unit=" kg ")
    assert (need.item, need.target, need.unit, need.active) == ("Rice", 20, "kg", True)
    assert donations.donation_schedule(db, place).weekday == 6
    assert need.roster_id == donations.donation_schedule(db, place).roster_id


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(MONDAY, SAT_9, id="monday"),
        pytest.param(local(8, 23, 59), SAT_9, id="friday-night"),
        pytest.param(datetime(2030, 3, 9, 3, 0, tzinfo=UTC), SAT_9, id="saturday-utc-friday-ny"),
        pytest.param(local(9, 0, 0), SAT_9, id="saturday-midnight"),
        pytest.param(local(9, 9), SAT_9, id="saturday-before-window"),
        pytest.param(local(9, 11, 59), SAT_9, id="saturday-in-window"),
        pytest.param(local(9, 12), SAT_16, id="saturday-window-over"),
        pytest.param(local(9, 20), SAT_16, id="saturday-evening"),
        pytest.param(datetime(2030, 3, 10, 2, 0, tzinfo=UTC), SAT_16, id="sunday-utc-saturday-ny"),
        pytest.param(local(10, 9), SAT_16, id="sunday"),
        pytest.param(local(15, 23), SAT_16, id="next-friday"),
    ],
)
def test_next_day_weekly(
    db: Session, place: Community, needs: tuple[Need, Need], now: datetime, expected: date
) -> None:
    schedule = donations.donation_schedule(db, place)
    assert donations.next_day(schedule, place, now) == expected


def test_next_day_weekly_on_other_weekdays(db: Session, place: Community) -> None:
    schedule = donations.donation_schedule(db, place, weekday=2)  # Wednesday
    schedule.window_start_minute, schedule.window_end_minute = 17 * 60, 19 * 60
    assert donations.next_day(schedule, place, MONDAY) == date(2030, 3, 6)
    assert donations.next_day(schedule, place, local(6, 18, 59)) == date(2030, 3, 6)
    assert donations.next_day(schedule, place, local(6, 19)) == date(2030, 3, 13)
    assert donations.next_day(schedule, place, local(7, 8)) == date(2030, 3, 13)
    schedule.weekday = 0  # Monday, today
    assert donations.next_day(schedule, place, MONDAY) == date(2030, 3, 4)
    assert donations.next_day(schedule, place, local(4, 20)) == date(2030, 3, 11)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(local(1, 9), 6, id="five-days-before-anchor"),
        pytest.param(local(3, 11), 6, id="a-step-before-anchor"),
        pytest.param(MONDAY, 6, id="two-days-before-anchor"),
        pytest.param(local(6, 9), 6, id="on-anchor-before-window"),
        pytest.param(local(6, 11, 59), 6, id="on-anchor-in-window"),
        pytest.param(local(6, 12), 9, id="on-anchor-window-over"),
        pytest.param(local(7, 8), 9, id="between"),
        pytest.param(local(8, 23), 9, id="day-before"),
        pytest.param(local(9, 10), 9, id="second-day"),
        pytest.param(local(9, 12), 12, id="second-day-over"),
        pytest.param(local(16, 7), 18, id="later"),
    ],
)
def test_next_day_every_three_days_from_an_anchor(
    db: Session, place: Community, now: datetime, expected: int
) -> None:
    schedule = donations.donation_schedule(db, place)
    schedule.every_days, schedule.anchor = 3, date(2030, 3, 6)
    assert donations.next_day(schedule, place, now) == date(2030, 3, expected)


def test_next_day_every_day(db: Session, place: Community) -> None:
    schedule = donations.donation_schedule(db, place)
    schedule.every_days, schedule.anchor = 1, date(2030, 3, 1)
    assert donations.next_day(schedule, place, MONDAY) == date(2030, 3, 4)
    assert donations.next_day(schedule, place, local(4, 12)) == date(2030, 3, 5)


def test_cycle_for_creates_one_coverage_row_per_active_need_once(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rice, oil = needs
    retired = donations.add_need(db, place, weekday=5, item="Tea", quantity=3, unit="box")
    retired.active = False
    schedule = donations.donation_schedule(db, place)

    cycle = donations.cycle_for(db, schedule, place, SAT_9)
    again = donations.cycle_for(db, schedule, place, SAT_9)

    assert again.id == cycle.id
    assert (cycle.community_id, cycle.roster_id, cycle.day) == (place.id, schedule.roster_id, SAT_9)
    # the drop-off window in the community's time zone (EST before 10 March)
    assert cycle.starts_at == datetime(2030, 3, 9, 15, 0, tzinfo=UTC)
    assert cycle.ends_at == datetime(2030, 3, 9, 17, 0, tzinfo=UTC)
    rows = db.scalars(select(CycleNeed).where(CycleNeed.cycle_id == cycle.id)).all()
    assert sorted((r.need_id, r.target, r.pledged, r.delivered) for r in rows) == [
        (rice.id, 20, 0, 0),
        (oil.id, 10, 0, 0),
    ]
    assert db.scalar(select(func.count()).select_from(Cycle)) == 1
    # the next week's cycle is a separate occurrence (EDT after 10 March)
    later = donations.cycle_for(db, schedule, place, SAT_16)
    assert later.id != cycle.id
    assert later.starts_at == datetime(2030, 3, 16, 14, 0, tzinfo=UTC)
    assert db.scalar(select(func.count()).select_from(CycleNeed)) == 4


def test_a_need_added_later_joins_the_existing_next_cycle(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    cycle = donations.next_cycle(db, place, MONDAY)
    assert cycle is not None
    beans = donations.add_need(db, place, weekday=5, item="Beans", quantity=6, unit="can")

    same = donations.next_cycle(db, place, local(5, 9))

    assert same is not None and same.id == cycle.id
    rows = cycle_needs(db, same)
    assert sorted(rows) == ["Beans", "Oil", "Rice"]
    assert (rows["Beans"].need_id, rows["Beans"].target) == (beans.id, 6)
    assert [c.item for c in donations.coverage(db, same)] == ["Rice", "Oil", "Beans"]


def test_a_cycle_keeps_the_target_it_was_created_with(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rice, _ = needs
    first_cycle(db, place)
    rice.target = 50
    assert first_cycle(db, place)["Rice"].target == 20
    assert second_cycle(db, place)["Rice"].target == 50


def test_no_schedule_means_no_cycle_and_no_needs(db: Session, place: Community) -> None:
    assert donations.next_cycle(db, place, MONDAY) is None
    assert donations.open_needs(db, place, "en", MONDAY) == []
    assert db.scalar(select(func.count()).select_from(DonationSchedule)) == 0


def test_coverage_counts_pledged_delivered_and_missing(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rows = first_cycle(db, place)
    ana, ben = volunteer(db, place, 1), volunteer(db, place, 2)
    donations.pledge(db, ana, place, rows["Rice"].id, 5, MONDAY)
    donations.pledge(db, ben, place, rows["Rice"].id, 7, MONDAY)
    donations.pledge(db, ben, place, rows["Oil"].id, 10, MONDAY)
    donations.mark_done(db, ben, place, local(9, 10, 30))

    cycle = db.get_one(Cycle, rows["Rice"].cycle_id)
    covered = donations.coverage(db, cycle)

    assert covered == [
        donations.NeedCoverage("Rice", 20, 12, 7, "kg"),
        donations.NeedCoverage("Oil", 10, 10, 10, "L"),
    ]
    assert [c.missing for c in covered] == [8, 0]
    # the other week is untouched
    later = donations.cycle_for(db, donations.donation_schedule(db, place), place, SAT_16)
    assert [(c.pledged, c.delivered, c.missing) for c in donations.coverage(db, later)] == [
        (0, 0, 20),
        (0, 0, 10),
    ]


def test_open_needs_show_what_is_missing_and_when(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rows = first_cycle(db, place)
    donations.pledge(db, volunteer(db, place, 1), place, rows["Rice"].id, 8, MONDAY)
    donations.pledge(db, volunteer(db, place, 2), place, rows["Oil"].id, 10, MONDAY)

    shown = donations.open_needs(db, place, "en", MONDAY)

    assert shown == [
        NeedView(rows["Rice"].id, "Rice", "kg", 12, 20, "Sat Mar 9"),
        NeedView(rows["Oil"].id, "Oil", "L", 0, 10, "Sat Mar 9"),
    ]
    assert {n.when for n in donations.open_needs(db, place, "es", MONDAY)} == {"sab 9 mar"}
    # once Saturday's window is over, the list is next week's, all missing again
    later = donations.open_needs(db, place, "en", local(9, 12))
    assert [(n.item, n.missing, n.when) for n in later] == [
        ("Rice", 20, "Sat Mar 16"),
        ("Oil", 10, "Sat Mar 16"),
    ]


# ----- pledges ----------------------------------------------------------------------------------
def test_a_pledge_within_target_is_recorded_with_its_facts(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rice = first_cycle(db, place)["Rice"]
    ana = volunteer(db, place, 1)

    result = donations.pledge(db, ana, place, rice.id, 5, MONDAY)

    assert (result.outcome, result.quantity, result.weekly) == ("pledged", 5, False)
    assert result.facts.params() == {
        "item": "Rice",
        "unit": "kg",
        "when": "Sat Mar 9",
        "place": "Church hall",
    }
    assert fresh(db, rice).pledged == 5
    row = pledge_of(db, rice, ana)
    assert (row.quantity, row.status, row.standing_id) == (5, PledgeStatus.PLEDGED, None)
    assert row.created_at == MONDAY


def test_an_over_pledge_is_capped_at_what_is_missing_then_the_need_is_full(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rice = first_cycle(db, place)["Rice"]
    ana, ben, chi = (volunteer(db, place, n) for n in (1, 2, 3))
    donations.pledge(db, ana, place, rice.id, 17, MONDAY)

    capped = donations.pledge(db, ben, place, rice.id, 10, MONDAY)
    full = donations.pledge(db, chi, place, rice.id, 1, MONDAY)

    assert (capped.outcome, capped.quantity) == ("capped", 3)
    assert pledge_of(db, rice, ben).quantity == 3
    assert (full.outcome, full.quantity, full.facts.item) == ("full", 0, "Rice")
    assert db.scalar(select(func.count()).where(Pledge.volunteer_id == chi.id)) == 0
    assert (fresh(db, rice).pledged, rice.target) == (20, 20)
    assert sum(db.scalars(select(Pledge.quantity).where(Pledge.cycle_need_id == rice.id))) == 20


@pytest.mark.parametrize("case", ["other-community", "cycle-over", "unknown-id"])
def test_a_pledge_on_a_closed_need_changes_nothing(
    db: Session, place: Community, needs: tuple[Need, Need], case: str
) -> None:
    rice = first_cycle(db, place)["Rice"]
    ana = volunteer(db, place, 1)
    target, now, cycle_need_id = place, MONDAY, rice.id
    if case == "other-community":
        target = create_community(
            db,
            name="Hillside Pantry",
            slug="hillside",
            number="+12025550177",
            country="US",
            timezone="America/New_York",
        )
    elif case == "cycle-over":
        now = local(9, 12)
    else:
        cycle_need_id = rice.id + 1000

    result = donations.pledge(db, ana, target, cycle_need_id, 5, now)

    assert result.outcome == "closed"
    assert result.quantity == 0
    assert fresh(db, rice).pledged == 0
    assert db.scalar(select(func.count()).select_from(Pledge)) == 0


def test_pledging_again_adds_to_the_same_pledge(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rice = first_cycle(db, place)["Rice"]
    ana = volunteer(db, place, 1)
    donations.pledge(db, ana, place, rice.id, 5, MONDAY)

    again = donations.pledge(db, ana, place, rice.id, 3, local(5, 9))
    capped = donations.pledge(db, ana, place, rice.id, 50, local(5, 10))

    assert (again.outcome, again.quantity) == ("pledged", 3)
    assert (capped.outcome, capped.quantity) == ("capped", 12)
    rows = db.scalars(select(Pledge).where(Pledge.volunteer_id == ana.id)).all()
    assert [(r.quantity, r.status) for r in rows] == [(20, PledgeStatus.PLEDGED)]
    assert fresh(db, rice).pledged == 20


def test_a_dropped_pledge_can_be_made_again(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rice = first_cycle(db, place)["Rice"]
    ana = volunteer(db, place, 1)
    first = pledge_of_after(db, place, ana, rice, 5)
    assert donations.drop_pledge(db, ana, place, first.id, MONDAY).outcome == "dropped"

    result = donations.pledge(db, ana, place, rice.id, 2, local(5, 9))

    assert (result.outcome, result.quantity) == ("pledged", 2)
    rows = db.scalars(
        select(Pledge)
        .where(Pledge.cycle_need_id == rice.id, Pledge.volunteer_id == ana.id)
        .order_by(Pledge.id)
    ).all()
    # the dropped pledge stays as history; the new one is a row of its own
    assert [(r.id == first.id, r.quantity, r.status) for r in rows] == [
        (True, 5, PledgeStatus.DROPPED),
        (False, 2, PledgeStatus.PLEDGED),
    ]
    assert fresh(db, rice).pledged == 2


def pledge_of_after(
    db: Session, place: Community, person: Volunteer, row: CycleNeed, quantity: int
) -> Pledge:
    result = donations.pledge(db, person, place, row.id, quantity, MONDAY)
    assert result.outcome == "pledged", result
    return pledge_of(db, row, person)


def test_a_weekly_pledge_creates_then_updates_a_standing_pledge(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rows = first_cycle(db, place)
    oil = rows["Oil"]
    ana = volunteer(db, place, 1)

    result = donations.pledge(db, ana, place, oil.id, 4, MONDAY, weekly=True)

    assert (result.outcome, result.quantity, result.weekly) == ("pledged", 4, True)
    assert result.reply().key == "give.pledged_weekly"
    standing = db.scalars(select(StandingPledge)).one()
    assert (standing.need_id, standing.volunteer_id, standing.quantity, standing.active) == (
        oil.need_id,
        ana.id,
        4,
        True,
    )
    assert pledge_of(db, oil, ana).standing_id == standing.id

    # "12 weekly" when only 6 are missing: this week is capped, the standing pledge says 12
    standing.active = False
    again = donations.pledge(db, ana, place, oil.id, 12, local(5, 9), weekly=True)
    assert (again.outcome, again.quantity, again.reply().key) == ("capped", 6, "give.capped_weekly")
    db.refresh(standing)
    assert (standing.quantity, standing.active) == (12, True)
    assert db.scalar(select(func.count()).select_from(StandingPledge)) == 1
    assert pledge_of(db, oil, ana).quantity == 10


def test_a_pledge_schedules_one_reminder_the_day_before(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rows = first_cycle(db, place)
    ana = volunteer(db, place, 1)
    donations.pledge(db, ana, place, rows["Rice"].id, 5, MONDAY)
    donations.pledge(db, ana, place, rows["Rice"].id, 2, local(5, 9))  # adds, same reminder

    reminders = db.scalars(select(OutboxItem).where(OutboxItem.job == donations.REMINDER_JOB)).all()

    row = pledge_of(db, rows["Rice"], ana)
    assert len(reminders) == 1
    assert reminders[0].payload == {"pledge_id": row.id}
    assert reminders[0].available_at == local(8, 18)  # Friday 18:00 local
    assert reminders[0].dedupe_key == f"pledge-reminder:{row.id}:{rows['Rice'].cycle_id}"

    # a pledge made after the reminder time gets none (it would fire late)
    ben = volunteer(db, place, 2)
    donations.pledge(db, ben, place, rows["Oil"].id, 2, local(8, 18, 30))
    assert db.scalar(select(func.count()).where(OutboxItem.job == donations.REMINDER_JOB)) == 1


def test_the_database_refuses_a_pledged_total_above_target(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rice = first_cycle(db, place)["Rice"]
    db.commit()
    with pytest.raises(IntegrityError):
        db.execute(update(CycleNeed).where(CycleNeed.id == rice.id).values(pledged=21))
    db.rollback()
    with pytest.raises(IntegrityError):
        db.execute(update(CycleNeed).where(CycleNeed.id == rice.id).values(pledged=-1))
    db.rollback()
    assert fresh(db, rice).pledged == 0


# ----- drops ------------------------------------------------------------------------------------
def test_dropping_a_pledge_frees_its_quantity(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rice = first_cycle(db, place)["Rice"]
    ana, ben, chi = (volunteer(db, place, n) for n in (1, 2, 3))
    mine = pledge_of_after(db, place, ana, rice, 15)
    donations.pledge(db, ben, place, rice.id, 5, MONDAY)
    assert donations.pledge(db, chi, place, rice.id, 4, MONDAY).outcome == "full"

    result = donations.drop_pledge(db, ana, place, mine.id, local(5, 9))

    assert result.outcome == "dropped"
    assert result.shift is not None
    assert (result.shift.title, result.shift.when, result.shift.place) == (
        "15 kg Rice",
        "Sat Mar 9",
        "Church hall",
    )
    db.refresh(mine)
    assert mine.status == PledgeStatus.DROPPED
    assert fresh(db, rice).pledged == 5
    assert donations.pledge(db, chi, place, rice.id, 4, local(5, 10)).outcome == "pledged"
    assert fresh(db, rice).pledged == 9


def test_only_the_owner_can_drop_a_pledge_and_only_once(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rice = first_cycle(db, place)["Rice"]
    ana, ben = volunteer(db, place, 1), volunteer(db, place, 2)
    mine = pledge_of_after(db, place, ana, rice, 6)

    assert donations.drop_pledge(db, ben, place, mine.id, MONDAY).outcome == "not_found"
    assert donations.drop_pledge(db, ana, place, mine.id + 99, MONDAY).outcome == "not_found"
    db.refresh(mine)
    assert (mine.status, fresh(db, rice).pledged) == (PledgeStatus.PLEDGED, 6)

    assert donations.drop_pledge(db, ana, place, mine.id, MONDAY).outcome == "dropped"
    assert donations.drop_pledge(db, ana, place, mine.id, MONDAY).outcome == "not_found"
    assert fresh(db, rice).pledged == 0


# ----- DONE and coordinator marks -------------------------------------------------------------
def test_done_marks_only_todays_pledges_delivered(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    this_week, next_week = first_cycle(db, place), second_cycle(db, place)
    ana, ben = volunteer(db, place, 1), volunteer(db, place, 2)
    rice = pledge_of_after(db, place, ana, this_week["Rice"], 5)
    oil = pledge_of_after(db, place, ana, this_week["Oil"], 4)
    later = pledge_of_after(db, place, ana, next_week["Rice"], 7)
    dropped = pledge_of_after(db, place, ana, next_week["Oil"], 1)
    donations.drop_pledge(db, ana, place, dropped.id, MONDAY)

    assert donations.mark_done(db, ana, place, local(8, 15)).outcome == "nothing_today"
    done = donations.mark_done(db, ana, place, local(9, 10, 30))

    assert (done.outcome, done.count) == ("delivered", 2)
    for row in (rice, oil, later, dropped):
        db.refresh(row)
    assert (rice.status, oil.status) == (PledgeStatus.DELIVERED, PledgeStatus.DELIVERED)
    assert rice.delivered_at == local(9, 10, 30)
    assert (later.status, later.delivered_at) == (PledgeStatus.PLEDGED, None)
    assert dropped.status == PledgeStatus.DROPPED
    assert (fresh(db, this_week["Rice"]).delivered, fresh(db, this_week["Oil"]).delivered) == (5, 4)
    assert fresh(db, next_week["Rice"]).delivered == 0
    # a second DONE, or one from someone without a pledge today, finds nothing
    assert donations.mark_done(db, ana, place, local(9, 11)).outcome == "nothing_today"
    assert donations.mark_done(db, ben, place, local(9, 11)).count == 0
    assert fresh(db, this_week["Rice"]).delivered == 5


def test_done_uses_the_community_date_not_utc(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rice = first_cycle(db, place)["Rice"]
    ana = volunteer(db, place, 1)
    pledge_of_after(db, place, ana, rice, 5)
    friday_night = datetime(2030, 3, 9, 2, 0, tzinfo=UTC)  # Saturday in UTC, Friday in New York
    assert donations.mark_done(db, ana, place, friday_night).outcome == "nothing_today"
    assert donations.mark_done(db, ana, place, local(9, 8)).outcome == "delivered"


def test_coordinator_marks_keep_delivered_totals_right(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    rice = first_cycle(db, place)["Rice"]
    ana, ben = volunteer(db, place, 1), volunteer(db, place, 2)
    mine = pledge_of_after(db, place, ana, rice, 5)
    theirs = pledge_of_after(db, place, ben, rice, 3)
    at = local(9, 13)

    steps = [
        (mine, PledgeStatus.DELIVERED, 5),
        (mine, PledgeStatus.DELIVERED, 5),  # twice counts once
        (theirs, PledgeStatus.MISSED, 5),
        (theirs, PledgeStatus.DELIVERED, 8),
        (mine, PledgeStatus.MISSED, 3),
        (mine, PledgeStatus.MISSED, 3),
        (mine, PledgeStatus.DELIVERED, 8),
    ]
    for item, status, delivered in steps:
        donations.set_pledge_status(db, item, status, at)
        assert (item.status, fresh(db, rice).delivered) == (status, delivered), (item.id, status)
    assert fresh(db, rice).pledged == 8  # marks do not change what was pledged
    with pytest.raises(donations.DonationError, match="delivered or missed"):
        donations.set_pledge_status(db, mine, PledgeStatus.DROPPED, at)
    assert (mine.status, fresh(db, rice).delivered) == (PledgeStatus.DELIVERED, 8)


# ----- standing pledges -------------------------------------------------------------------------
def standing_for(
    db: Session, place: Community, person: Volunteer, row: CycleNeed, quantity: int
) -> StandingPledge:
    assert donations.pledge(db, person, place, row.id, quantity, MONDAY, weekly=True).weekly
    return db.scalars(select(StandingPledge).where(StandingPledge.volunteer_id == person.id)).one()


SUNDAY = local(10, 12)  # the first cycle is over: the next one is Saturday 16


def test_yes_to_a_standing_pledge_pledges_it_into_the_next_cycle(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    ana = volunteer(db, place, 1)
    standing = standing_for(db, place, ana, first_cycle(db, place)["Oil"], 4)

    result = donations.answer_standing(db, ana, place, standing.id, True, SUNDAY)

    assert (result.outcome, result.quantity) == ("pledged", 4)
    assert (result.facts.item, result.facts.when) == ("Oil", "Sat Mar 16")
    oil = second_cycle(db, place)["Oil"]
    row = pledge_of(db, oil, ana)
    assert (row.quantity, row.status, row.standing_id) == (4, PledgeStatus.PLEDGED, standing.id)
    assert oil.pledged == 4


def test_yes_to_a_standing_pledge_is_capped_then_gone_when_full(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    ana, ben, chi = (volunteer(db, place, n) for n in (1, 2, 3))
    standing = standing_for(db, place, ana, first_cycle(db, place)["Oil"], 4)
    oil = second_cycle(db, place)["Oil"]
    donations.pledge(db, ben, place, oil.id, 8, SUNDAY)

    capped = donations.answer_standing(db, ana, place, standing.id, True, SUNDAY)

    assert (capped.outcome, capped.quantity) == ("pledged", 2)
    assert pledge_of(db, oil, ana).quantity == 2
    assert fresh(db, oil).pledged == 10
    other = standing_for(db, place, chi, first_cycle(db, place)["Rice"], 1)
    db.get_one(StandingPledge, other.id).need_id = oil.need_id  # Chi also brings oil weekly
    db.flush()
    assert donations.answer_standing(db, chi, place, other.id, True, SUNDAY).outcome == "gone"
    assert fresh(db, oil).pledged == 10


def test_no_skips_the_week_and_inactive_or_foreign_standing_pledges_are_gone(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    ana, ben = volunteer(db, place, 1), volunteer(db, place, 2)
    standing = standing_for(db, place, ana, first_cycle(db, place)["Oil"], 4)

    skipped = donations.answer_standing(db, ana, place, standing.id, False, SUNDAY)

    assert (skipped.outcome, skipped.quantity, skipped.facts.when) == ("skipped", 4, "Sat Mar 16")
    oil = second_cycle(db, place)["Oil"]
    assert oil.pledged == 0
    assert db.scalar(select(func.count()).where(Pledge.cycle_need_id == oil.id)) == 0
    db.refresh(standing)
    assert standing.active  # next week it is asked again

    assert donations.answer_standing(db, ben, place, standing.id, True, SUNDAY).outcome == "gone"
    assert donations.answer_standing(db, ana, place, standing.id + 9, True, SUNDAY).outcome == (
        "gone"
    )
    standing.active = False
    assert donations.answer_standing(db, ana, place, standing.id, True, SUNDAY).outcome == "gone"
    assert fresh(db, oil).pledged == 0


def test_a_standing_pledge_for_a_retired_need_is_gone(
    db: Session, place: Community, needs: tuple[Need, Need]
) -> None:
    _, oil_need = needs
    ana = volunteer(db, place, 1)
    standing = standing_for(db, place, ana, first_cycle(db, place)["Oil"], 4)
    oil_need.active = False
    db.flush()
    assert donations.answer_standing(db, ana, place, standing.id, True, SUNDAY).outcome == "gone"
    assert sorted(second_cycle(db, place)) == ["Rice"]


@pytest.mark.parametrize("mark", [PledgeStatus.DELIVERED, PledgeStatus.MISSED])
def test_pledging_again_after_a_mark_keeps_totals_equal_to_the_pledges(
    db: Session, place: Community, needs: tuple[Need, Need], mark: PledgeStatus
) -> None:
    rice = first_cycle(db, place)["Rice"]
    ana = volunteer(db, place, 1)
    mine = pledge_of_after(db, place, ana, rice, 5)
    donations.set_pledge_status(db, mine, mark, local(9, 10))

    assert donations.pledge(db, ana, place, rice.id, 3, local(9, 10, 30)).outcome == "pledged"

    live = db.scalars(
        select(Pledge.quantity).where(
            Pledge.cycle_need_id == rice.id, Pledge.status != PledgeStatus.DROPPED
        )
    ).all()
    assert fresh(db, rice).pledged == sum(live)
