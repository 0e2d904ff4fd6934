"""Reports over a community's rosters: hours served per volunteer and month, fill rate and
no-show rate of past shifts, and the hours CSV.

Months are calendar months in the community's time zone, and a shift counts in the month it
starts. Hours come from ``Assignment.minutes_served`` of checked-out assignments. Imports
models only.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from service.models import (
    Assignment,
    AssignmentStatus,
    Community,
    Shift,
    ShiftStatus,
    Volunteer,
)
from service.models.rosters import PLACE_HOLDING
from service.volunteers.import_export import neutralize

PERIODS = (3, 6, 12, 24)  # months a report may cover
DEFAULT_MONTHS = 6
CSV_COLUMNS = ("month", "volunteer_id", "name", "phone", "hours")


@dataclass(frozen=True)
class Period:
    """The last ``months`` calendar months (this one included), local to the community."""

    months: tuple[str, ...]  # "2030-03", oldest first
    since: datetime  # UTC start of the first month
    until: datetime  # now

    @classmethod
    def ending(cls, community: Community, now: datetime, months: int) -> Period:
        zone = ZoneInfo(community.timezone)
        local = now.astimezone(zone)
        year, month = local.year, local.month
        keys = []
        for _ in range(months):
            keys.append(f"{year:04d}-{month:02d}")
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        first_year, first_month = (int(part) for part in keys[-1].split("-"))
        since = datetime(first_year, first_month, 1, tzinfo=zone).astimezone(UTC)
        return cls(tuple(reversed(keys)), since, now)


@dataclass(frozen=True)
class HoursRow:
    month: str
    volunteer_id: int
    name: str
    phone: str
    minutes: int

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 2)


def hours_served(session: Session, community: Community, period: Period) -> list[HoursRow]:
    """Minutes served per volunteer and month, newest month first, then by most hours."""
    zone = ZoneInfo(community.timezone)
    rows = session.execute(
        select(
            Volunteer.id,
            Volunteer.name,
            Volunteer.phone,
            Shift.starts_at,
            Assignment.minutes_served,
        )
        .join(Shift, Shift.id == Assignment.shift_id)
        .join(Volunteer, Volunteer.id == Assignment.volunteer_id)
        .where(
            Shift.community_id == community.id,
            Shift.starts_at >= period.since,
            Shift.starts_at <= period.until,
            Assignment.status == AssignmentStatus.CHECKED_OUT,
            Assignment.minutes_served.is_not(None),
        )
    ).all()
    totals: dict[tuple[str, int], int] = defaultdict(int)
    people: dict[int, tuple[str, str]] = {}
    for volunteer_id, name, phone, starts_at, minutes in rows:
        month = starts_at.astimezone(zone).strftime("%Y-%m")
        totals[(month, volunteer_id)] += int(minutes or 0)
        people[volunteer_id] = (name or "", phone)
    result = [
        HoursRow(month, vid, people[vid][0], people[vid][1], minutes)
        for (month, vid), minutes in totals.items()
    ]
    result.sort(key=lambda r: (r.month, r.minutes, -r.volunteer_id), reverse=True)
    return result


def hours_by_month(rows: Iterable[HoursRow], period: Period) -> list[tuple[str, float]]:
    """Hours per month over the whole period (months without hours as 0), oldest first."""
    minutes: dict[str, int] = dict.fromkeys(period.months, 0)
    for row in rows:
        if row.month in minutes:
            minutes[row.month] += row.minutes
    return [(month, round(total / 60, 1)) for month, total in minutes.items()]


@dataclass(frozen=True)
class Rate:
    """``part`` of ``whole``; ``value`` is None when there is nothing to divide by."""

    part: int
    whole: int

    @property
    def value(self) -> float | None:
        return self.part / self.whole if self.whole else None

    @property
    def percent(self) -> str:
        return "n/a" if self.value is None else f"{100 * self.value:.0f}%"


def _past_shifts(community: Community, period: Period) -> list[ColumnElement[bool]]:
    return [
        Shift.community_id == community.id,
        Shift.starts_at >= period.since,
        Shift.ends_at <= period.until,
        Shift.status != ShiftStatus.CANCELLED,
    ]


def fill_rate(session: Session, community: Community, period: Period) -> Rate:
    """Places taken (confirmed, attended or not) over capacity, for shifts already over."""
    places, capacity = session.execute(
        select(
            func.coalesce(func.sum(Shift.confirmed_count), 0),
            func.coalesce(func.sum(Shift.capacity), 0),
        ).where(*_past_shifts(community, period))
    ).one()
    return Rate(int(places), int(capacity))


def no_show_rate(session: Session, community: Community, period: Period) -> Rate:
    """No-shows over everyone who held a place on a shift already over."""
    no_shows, expected = session.execute(
        select(
            func.count().filter(Assignment.status == AssignmentStatus.NO_SHOW),
            func.count(),
        )
        .select_from(Assignment)
        .join(Shift, Shift.id == Assignment.shift_id)
        .where(*_past_shifts(community, period), Assignment.status.in_(PLACE_HOLDING))
    ).one()
    return Rate(int(no_shows), int(expected))


def hours_csv(rows: Iterable[HoursRow], phone: Callable[[str], str]) -> str:
    """The hours table as CSV; ``phone`` shows or masks a number; formula cells neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                neutralize(row.month),
                row.volunteer_id,
                neutralize(row.name),
                neutralize(phone(row.phone)),
                f"{row.hours:g}",
            ]
        )
    return out.getvalue()
