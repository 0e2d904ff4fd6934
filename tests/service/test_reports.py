"""Reports: hours served per volunteer and month, fill rate and no-show rate of past shifts,
the CSV, and the SVG bar chart."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import clock
from service.db import unit_of_work
from service.models import (
    Assignment,
    AssignmentStatus,
    Community,
    Roster,
    RosterKind,
    Shift,
    ShiftStatus,
    Volunteer,
)
from service.web.console.read_models.charts import Bar, bar_chart, nice_ceiling
from service.web.console.read_models.reports import (
    Period,
    fill_rate,
    hours_by_month,
    hours_csv,
    hours_served,
    no_show_rate,
)

NOW = datetime(2030, 3, 20, 16, 0, tzinfo=UTC)
ANA, BEN, CLEO = "+12025550161", "+12025550162", "+12025550163"
EVIL_NAME = '=HYPERLINK("http://x")'


@pytest.fixture
def frozen() -> Iterator[datetime]:
    clock.freeze(NOW)
    yield NOW
    clock.freeze(None)


def seed_rosters(factory: sessionmaker[Session], community: Community) -> dict[str, int]:
    """Shifts past and future, attended, missed and cancelled (see the expected figures)."""
    with unit_of_work(factory) as session:
        roster = Roster(community_id=community.id, kind=RosterKind.SHIFTS, name="Shifts")
        people = {
            name: Volunteer(
                community_id=community.id, phone=phone, name=name, status=VolunteerStatus.ACTIVE
            )
            for name, phone in (("Ana", ANA), (EVIL_NAME, BEN), ("Cleo", CLEO))
        }
        session.add_all([roster, *people.values()])
        session.flush()

        def shift(start: datetime, capacity: int, taken: int, **kw: object) -> Shift:
            row = Shift(
                roster_id=roster.id,
                community_id=community.id,
                title="Sandbags",
                place="Depot",
                starts_at=start,
                ends_at=start + timedelta(hours=4),
                capacity=capacity,
                confirmed_count=taken,
                **kw,
            )
            session.add(row)
            session.flush()
            return row

        def assign(
            s: Shift, who: str, status: AssignmentStatus, minutes: int | None = None
        ) -> None:
            session.add(
                Assignment(
                    shift_id=s.id,
                    volunteer_id=people[who].id,
                    status=status,
                    minutes_served=minutes,
                )
            )

        january = shift(datetime(2030, 1, 10, 14, tzinfo=UTC), capacity=4, taken=3)
        assign(january, "Ana", AssignmentStatus.CHECKED_OUT, 240)
        assign(january, EVIL_NAME, AssignmentStatus.CHECKED_OUT, 180)
        assign(january, "Cleo", AssignmentStatus.NO_SHOW)
        march = shift(datetime(2030, 3, 5, 14, tzinfo=UTC), capacity=2, taken=2)
        assign(march, "Ana", AssignmentStatus.CHECKED_OUT, 90)
        assign(march, EVIL_NAME, AssignmentStatus.CHECKED_IN)
        assign(march, "Cleo", AssignmentStatus.WAITLISTED)
        future = shift(datetime(2030, 3, 25, 14, tzinfo=UTC), capacity=5, taken=1)
        assign(future, "Cleo", AssignmentStatus.CONFIRMED)
        shift(
            datetime(2030, 2, 1, 14, tzinfo=UTC), capacity=10, taken=0, status=ShiftStatus.CANCELLED
        )
        # 01:00 UTC on 1 Feb is still 31 January in New York.
        late = shift(datetime(2030, 2, 1, 1, tzinfo=UTC), capacity=1, taken=1)
        assign(late, "Cleo", AssignmentStatus.CHECKED_OUT, 30)
        old = shift(datetime(2029, 6, 1, 14, tzinfo=UTC), capacity=3, taken=1)
        assign(old, "Ana", AssignmentStatus.CHECKED_OUT, 600)
        return {name: v.id for name, v in people.items()}


def test_a_period_is_whole_local_months(community: Community) -> None:
    period = Period.ending(community, NOW, 6)
    assert period.months == ("2029-10", "2029-11", "2029-12", "2030-01", "2030-02", "2030-03")
    assert period.since == datetime(2029, 10, 1, 4, tzinfo=UTC)  # midnight in New York (EDT)
    january = Period.ending(community, datetime(2030, 1, 5, tzinfo=UTC), 3)
    assert january.months == ("2029-11", "2029-12", "2030-01")


def test_hours_fill_and_no_shows_from_seeded_rosters(
    session_factory: sessionmaker[Session], community: Community, db: Session, frozen: datetime
) -> None:
    ids = seed_rosters(session_factory, community)
    target = db.get_one(Community, community.id)
    period = Period.ending(target, NOW, 6)
    rows = hours_served(db, target, period)
    assert [(r.month, r.name, r.hours) for r in rows] == [
        ("2030-03", "Ana", 1.5),
        ("2030-01", "Ana", 4.0),
        ("2030-01", EVIL_NAME, 3.0),
        ("2030-01", "Cleo", 0.5),  # the late shift, by local time
    ]
    assert rows[0].volunteer_id == ids["Ana"]
    assert hours_by_month(rows, period) == [
        ("2029-10", 0.0),
        ("2029-11", 0.0),
        ("2029-12", 0.0),
        ("2030-01", 7.5),
        ("2030-02", 0.0),
        ("2030-03", 1.5),
    ]
    fill = fill_rate(db, target, period)  # January 3/4, March 2/2, late 1/1; not cancelled/future
    assert (fill.part, fill.whole, fill.percent) == (6, 7, "86%")
    no_show = no_show_rate(db, target, period)  # Cleo missed January; waitlisted not counted
    assert (no_show.part, no_show.whole, no_show.percent) == (1, 6, "17%")
    longer = Period.ending(target, NOW, 12)
    assert sum(r.minutes for r in hours_served(db, target, longer)) == 240 + 180 + 90 + 30 + 600


def test_rates_without_past_shifts_are_not_a_number(
    community: Community, db: Session, frozen: datetime
) -> None:
    target = db.get_one(Community, community.id)
    period = Period.ending(target, NOW, 6)
    assert fill_rate(db, target, period).value is None
    assert no_show_rate(db, target, period).percent == "n/a"
    assert hours_served(db, target, period) == []


def test_the_csv_neutralises_formulas(
    session_factory: sessionmaker[Session], community: Community, db: Session, frozen: datetime
) -> None:
    seed_rosters(session_factory, community)
    target = db.get_one(Community, community.id)
    rows = hours_served(db, target, Period.ending(target, NOW, 6))
    parsed = list(csv.reader(io.StringIO(hours_csv(rows, lambda phone: phone))))
    assert parsed[0] == ["month", "volunteer_id", "name", "phone", "hours"]
    evil = next(r for r in parsed if "HYPERLINK" in r[2])
    assert evil[2] == "'" + EVIL_NAME
    assert evil[3] == "'" + BEN  # a leading + would be a formula too
    assert evil[4] == "3"


def test_bar_chart_draws_a_bar_per_value_and_escapes_labels() -> None:
    svg = bar_chart(
        [Bar("2030-01", 7.5), Bar("<b>&", 0), Bar("2030-03", 1.5)], title='Hours "&" <more>'
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('<rect class="bar"') == 3
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg
    assert "Hours &#34;&amp;&#34; &lt;more&gt;" in svg
    assert 'height="141.0"' in svg  # 7.5 on a scale to 10 over a 188 px plot
    assert "2030-01: 7.5" in svg
    empty = bar_chart([], title="Nothing")
    assert "No data yet" in empty and "<rect" not in empty


def test_nice_axis_maximum() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 7.5, 12, 26, 100)] == [1, 0.5, 10, 20, 50, 100]
