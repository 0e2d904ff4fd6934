"""Read models for the console's shift and donation pages (and the dashboard): a fixed handful
of queries per page, never one per row, and no writes (a GET never creates a cycle).

Imports models and service modules only (no Flask).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import (
    Assignment,
    AssignmentStatus,
    CallOut,
    CallOutStatus,
    Community,
    Cycle,
    CycleNeed,
    DonationSchedule,
    Need,
    Pledge,
    PledgeStatus,
    Shift,
    Volunteer,
)
from service.rosters import shifts as rosters
from service.rosters.donations import next_day

SHIFT_PAGE_LIMIT = 200
UPCOMING_CYCLES = 3
PAST_CYCLES = 8


# ----- shifts --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShiftRow:
    """A shift with what its fill bar needs."""

    shift: Shift
    waitlisted: int
    open_callouts: int = 0

    @property
    def confirmed(self) -> int:
        return self.shift.confirmed_count

    @property
    def capacity(self) -> int:
        return self.shift.capacity


def shift_rows(
    session: Session,
    community: Community,
    now: datetime,
    *,
    past: bool = False,
    limit: int = SHIFT_PAGE_LIMIT,
) -> list[ShiftRow]:
    """Upcoming (not yet ended) shifts soonest first, or past ones latest first."""
    query = select(Shift).where(Shift.community_id == community.id)
    if past:
        query = query.where(Shift.ends_at <= now).order_by(Shift.starts_at.desc(), Shift.id.desc())
    else:
        query = query.where(Shift.ends_at > now).order_by(Shift.starts_at, Shift.id)
    shifts = list(session.scalars(query.limit(limit)))
    ids = [s.id for s in shifts]
    waiting: dict[int, int] = {}
    calling: dict[int, int] = {}
    if ids:
        waiting = {
            shift_id: int(count)
            for shift_id, count in session.execute(
                select(Assignment.shift_id, func.count())
                .where(
                    Assignment.shift_id.in_(ids),
                    Assignment.status == AssignmentStatus.WAITLISTED,
                )
                .group_by(Assignment.shift_id)
            )
        }
        calling = {
            shift_id: int(count)
            for shift_id, count in session.execute(
                select(CallOut.shift_id, func.count())
                .where(CallOut.shift_id.in_(ids), CallOut.status == CallOutStatus.OPEN)
                .group_by(CallOut.shift_id)
            )
        }
    return [ShiftRow(s, waiting.get(s.id, 0), calling.get(s.id, 0)) for s in shifts]


@dataclass(frozen=True)
class RosterEntry:
    assignment: Assignment
    volunteer: Volunteer
    position: int | None = None  # on the waitlist

    @property
    def hours(self) -> str:
        minutes = self.assignment.minutes_served
        return rosters.format_hours(minutes) if minutes is not None else ""


@dataclass(frozen=True)
class ShiftRoster:
    """Everyone on a shift, by where they stand."""

    confirmed: list[RosterEntry] = field(default_factory=list)
    waitlisted: list[RosterEntry] = field(default_factory=list)
    attended: list[RosterEntry] = field(default_factory=list)  # checked in or out
    no_shows: list[RosterEntry] = field(default_factory=list)
    dropped: list[RosterEntry] = field(default_factory=list)
    callouts: list[CallOut] = field(default_factory=list)

    @property
    def minutes_served(self) -> int:
        return sum(e.assignment.minutes_served or 0 for e in self.attended)

    @property
    def hours_served(self) -> str:
        return rosters.format_hours(self.minutes_served)


GROUP_OF = {
    AssignmentStatus.CONFIRMED: "confirmed",
    AssignmentStatus.WAITLISTED: "waitlisted",
    AssignmentStatus.CHECKED_IN: "attended",
    AssignmentStatus.CHECKED_OUT: "attended",
    AssignmentStatus.NO_SHOW: "no_shows",
    AssignmentStatus.DROPPED: "dropped",
}


def shift_roster(session: Session, shift: Shift) -> ShiftRoster:
    """The roster of one shift in two queries; the waitlist in its claim order."""
    roster = ShiftRoster(
        callouts=list(
            session.scalars(
                select(CallOut).where(CallOut.shift_id == shift.id).order_by(CallOut.id.desc())
            )
        )
    )
    rows = session.execute(
        select(Assignment, Volunteer)
        .join(Volunteer, Volunteer.id == Assignment.volunteer_id)
        .where(Assignment.shift_id == shift.id)
        .order_by(Assignment.queue_seq, Assignment.id)
    ).all()
    for assignment, volunteer in rows:
        group: list[RosterEntry] = getattr(roster, GROUP_OF[assignment.status])
        position = len(group) + 1 if assignment.status == AssignmentStatus.WAITLISTED else None
        group.append(RosterEntry(assignment, volunteer, position))
    roster.dropped.sort(key=lambda e: e.assignment.dropped_at or e.assignment.updated_at)
    return roster


# ----- donations -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CoverageLine:
    need_id: int
    item: str
    unit: str
    target: int
    pledged: int
    delivered: int

    @property
    def missing(self) -> int:
        return max(self.target - self.pledged, 0)


@dataclass(frozen=True)
class CycleCoverage:
    """One drop-off day; ``cycle_id`` is None while nobody has pledged for it yet."""

    day: date
    starts_at: datetime
    ends_at: datetime
    cycle_id: int | None
    lines: list[CoverageLine]

    @property
    def totals(self) -> list[UnitTotal]:
        """Target, pledged and delivered per unit (kg with kg, litres with litres), never
        summed across units; a need without a unit counts as its own item."""
        by_unit: dict[str, list[CoverageLine]] = {}
        for line in self.lines:
            by_unit.setdefault(line.unit or line.item, []).append(line)
        return [
            UnitTotal(
                unit,
                sum(line.target for line in group),
                sum(line.pledged for line in group),
                sum(line.delivered for line in group),
            )
            for unit, group in by_unit.items()
        ]

    @property
    def covered(self) -> int:
        """How many needs are fully pledged (a count of needs, which any units can share)."""
        return sum(1 for line in self.lines if not line.missing)


@dataclass(frozen=True)
class UnitTotal:
    unit: str
    target: int
    pledged: int
    delivered: int


@dataclass(frozen=True)
class DonationOverview:
    schedule: DonationSchedule | None
    upcoming: list[CycleCoverage]
    past: list[CycleCoverage]
    needs: list[Need]


def schedule_for(session: Session, community: Community) -> DonationSchedule | None:
    return session.scalar(
        select(DonationSchedule).where(DonationSchedule.community_id == community.id)
    )


def upcoming_days(
    schedule: DonationSchedule, community: Community, now: datetime, count: int
) -> list[date]:
    first = next_day(schedule, community, now)
    step = schedule.every_days if schedule.every_days and schedule.anchor else 7
    return [first + timedelta(days=step * k) for k in range(count)]


def _moment(day: date, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone).astimezone(UTC)


def _coverage(
    session: Session,
    schedule: DonationSchedule,
    community: Community,
    days: Sequence[date],
    cycles: Sequence[Cycle],
    active: Sequence[Need],
) -> list[CycleCoverage]:
    """Coverage per day: a cycle's rows, plus the ``active`` needs it has no row for yet
    (nothing pledged: ``donations.cycle_for`` adds the row with the first pledge)."""
    by_day = {c.day: c for c in cycles}
    lines: dict[int, list[CoverageLine]] = defaultdict(list)
    if cycles:
        for cycle_need, need in session.execute(
            select(CycleNeed, Need)
            .join(Need, Need.id == CycleNeed.need_id)
            .where(CycleNeed.cycle_id.in_([c.id for c in cycles]))
            .order_by(Need.id)
        ):
            lines[cycle_need.cycle_id].append(
                CoverageLine(
                    need.id,
                    need.item,
                    need.unit,
                    cycle_need.target,
                    cycle_need.pledged,
                    cycle_need.delivered,
                )
            )
    zone = ZoneInfo(community.timezone)
    out = []
    for day in days:
        cycle = by_day.get(day)
        found = lines.get(cycle.id, []) if cycle is not None else []
        have = {line.need_id for line in found}
        found = found + [
            CoverageLine(n.id, n.item, n.unit, n.target, 0, 0) for n in active if n.id not in have
        ]
        out.append(
            CycleCoverage(
                day=day,
                starts_at=cycle.starts_at
                if cycle
                else _moment(day, schedule.window_start_minute, zone),
                ends_at=cycle.ends_at if cycle else _moment(day, schedule.window_end_minute, zone),
                cycle_id=cycle.id if cycle else None,
                lines=sorted(found, key=lambda line: line.need_id),
            )
        )
    return out


def donation_overview(session: Session, community: Community, now: datetime) -> DonationOverview:
    schedule = schedule_for(session, community)
    if schedule is None:
        return DonationOverview(None, [], [], [])
    needs = list(
        session.scalars(select(Need).where(Need.roster_id == schedule.roster_id).order_by(Need.id))
    )
    active = [n for n in needs if n.active]
    days = upcoming_days(schedule, community, now, UPCOMING_CYCLES)
    cycles = list(
        session.scalars(
            select(Cycle).where(Cycle.roster_id == schedule.roster_id, Cycle.day.in_(days))
        )
    )
    past_cycles = list(
        session.scalars(
            select(Cycle)
            .where(Cycle.roster_id == schedule.roster_id, Cycle.day < days[0])
            .order_by(Cycle.day.desc())
            .limit(PAST_CYCLES)
        )
    )
    upcoming = _coverage(session, schedule, community, days, cycles, active)
    past = (
        _coverage(session, schedule, community, [c.day for c in past_cycles], past_cycles, [])
        if past_cycles
        else []
    )
    return DonationOverview(schedule, upcoming, past, needs)


def next_cycle_coverage(
    session: Session, community: Community, now: datetime
) -> CycleCoverage | None:
    """The next drop-off day's coverage (read-only)."""
    schedule = schedule_for(session, community)
    if schedule is None:
        return None
    day = upcoming_days(schedule, community, now, 1)
    cycles = list(
        session.scalars(
            select(Cycle).where(Cycle.roster_id == schedule.roster_id, Cycle.day.in_(day))
        )
    )
    active = list(
        session.scalars(
            select(Need)
            .where(Need.roster_id == schedule.roster_id, Need.active.is_(True))
            .order_by(Need.id)
        )
    )
    return _coverage(session, schedule, community, day, cycles, active)[0]


@dataclass(frozen=True)
class PledgeEntry:
    pledge: Pledge
    volunteer: Volunteer
    item: str
    unit: str


def cycle_detail(
    session: Session, community: Community, cycle: Cycle, now: datetime
) -> tuple[CycleCoverage, list[PledgeEntry]]:
    """One cycle's coverage and its pledges (dropped ones last), in three queries."""
    schedule = schedule_for(session, community)
    active: list[Need] = []
    if schedule is not None and cycle.ends_at > now:
        active = list(
            session.scalars(
                select(Need)
                .where(Need.roster_id == schedule.roster_id, Need.active.is_(True))
                .order_by(Need.id)
            )
        )
    coverage = (
        _coverage(session, schedule, community, [cycle.day], [cycle], active)[0]
        if schedule is not None
        else CycleCoverage(cycle.day, cycle.starts_at, cycle.ends_at, cycle.id, [])
    )
    pledges = [
        PledgeEntry(p, v, item, unit)
        for p, v, item, unit in session.execute(
            select(Pledge, Volunteer, Need.item, Need.unit)
            .join(CycleNeed, CycleNeed.id == Pledge.cycle_need_id)
            .join(Need, Need.id == CycleNeed.need_id)
            .join(Volunteer, Volunteer.id == Pledge.volunteer_id)
            .where(CycleNeed.cycle_id == cycle.id)
            .order_by(Pledge.status == PledgeStatus.DROPPED, Need.id, Pledge.created_at, Pledge.id)
        )
    ]
    return coverage, pledges
