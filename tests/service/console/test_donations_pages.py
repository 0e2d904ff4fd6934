"""Console donation pages: the next cycles' coverage (pledged by SMS, delivered), adding a need
(and refusing a bad one), a cycle's pledges, viewers and other communities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.db import unit_of_work
from service.models import (
    AuditEvent,
    Community,
    Cycle,
    DonationSchedule,
    Need,
    Pledge,
    PledgeStatus,
    Role,
)
from service.rosters import donations
from service.volunteers.phones import mask
from service.web.console.read_models.rosters import CoverageLine, CycleCoverage
from tests.conftest import SmsHelper
from tests.service.console.conftest import ConsoleClient, MakeCoordinator

ANA, BEN = "+12025550141", "+12025550143"


def read(factory: sessionmaker[Session], query: Callable[[Session], Any]) -> Any:
    with factory() as session:
        return query(session)


def count(factory: sessionmaker[Session], model: type[Any]) -> int:
    return int(read(factory, lambda s: s.scalar(select(func.count()).select_from(model))))


def add_needs(factory: sessionmaker[Session], community: Community) -> None:
    with unit_of_work(factory) as session:
        place = session.get_one(Community, community.id)
        donations.add_need(session, place, weekday=5, item="Rice", quantity=20, unit="kg")
        donations.add_need(session, place, weekday=5, item="Oil", quantity=10, unit="L")
        donations.donation_schedule(session, place).place = "Church hall"


def pledge_by_sms(sms: SmsHelper, phone: str, name: str, reply: str) -> str:
    sms.join(phone, name)
    sms.send(phone, "GIVE")
    return sms.send(phone, reply)[0]


def test_the_first_need_starts_the_donation_roster(
    console: ConsoleClient, session_factory: sessionmaker[Session]
) -> None:
    page = console.text("/console/donations")
    assert "No donation roster yet" in page and 'name="cycle_day"' in page

    response = console.post(
        "/console/donations/needs",
        {"item": "Rice", "quantity": "20", "unit": "kg", "cycle_day": "sunday"},
    )

    assert response.status_code == 302
    need = read(session_factory, lambda s: s.scalars(select(Need)).one())
    assert (need.item, need.target, need.unit, need.active) == ("Rice", 20, "kg", True)
    schedule = read(session_factory, lambda s: s.scalars(select(DonationSchedule)).one())
    assert schedule.weekday == 6
    events = read(session_factory, lambda s: s.scalars(select(AuditEvent)).all())
    assert [(e.action, e.subject) for e in events] == [("created", f"need:{need.id}")]
    page = console.text("/console/donations")
    assert "every Sunday" in page and "0/20" in page
    assert 'name="cycle_day"' not in page  # the day is set now: later needs join it
    assert count(session_factory, Cycle) == 0  # looking never creates a cycle


def test_a_bad_need_is_refused_and_nothing_is_stored(
    console: ConsoleClient, session_factory: sessionmaker[Session]
) -> None:
    for form, reason in (
        ({"item": "Rice", "quantity": "0", "cycle_day": "saturday"}, "between 1 and 100000"),
        ({"item": "", "quantity": "5", "cycle_day": "saturday"}, "Say what is needed"),
        ({"item": "Rice", "quantity": "five", "cycle_day": "saturday"}, "whole number"),
        ({"item": "Rice", "quantity": "5", "cycle_day": "someday"}, "Choose the drop-off day"),
    ):
        response = console.post("/console/donations/needs", form)
        assert response.status_code == 400, form
        assert reason in response.get_data(as_text=True), form
    assert count(session_factory, Need) == count(session_factory, DonationSchedule) == 0


def test_coverage_shows_pledges_by_sms_and_deliveries(
    console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    add_needs(session_factory, community)
    assert pledge_by_sms(sms, ANA, "Ana", "1 6").startswith("Thank you! 6 kg Rice")
    assert pledge_by_sms(sms, BEN, "Ben", "2 10").startswith("Thank you! 10 L Oil")
    with unit_of_work(session_factory) as session:
        oil = session.scalars(select(Pledge).where(Pledge.quantity == 10)).one()
        donations.set_pledge_status(session, oil, PledgeStatus.DELIVERED, clock.now())
    cycle_id = read(session_factory, lambda s: s.scalars(select(Cycle.id)).one())

    page = console.text("/console/donations")

    next_card = page.split('class="card cycle"')[1]
    assert "Rice" in next_card and "6/20" in next_card and "14 kg</span>" in next_card
    assert "Oil" in next_card and "10/10" in next_card and "covered" in next_card
    assert "16/30" not in next_card  # kg and litres are never added together
    assert "1 of 2 needs fully pledged" in next_card
    totals = next_card.split('class="unit-totals"', 1)[1].split("</ul>", 1)[0]
    assert "6/20 kg" in totals and "10/10 L" in totals
    assert f"/console/donations/cycles/{cycle_id}" in next_card
    assert page.count('class="card cycle"') == 3  # the next three drop-offs

    detail = console.text(f"/console/donations/cycles/{cycle_id}")
    assert "Ana" in detail and ANA in detail and "6 kg Rice" in detail
    assert "Ben" in detail and "10 L Oil" in detail and 'data-status="delivered"' in detail


def test_viewers_see_masked_numbers_and_cannot_add_needs(
    viewer_console: ConsoleClient,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    add_needs(session_factory, community)
    pledge_by_sms(sms, ANA, "Ana", "1 6")
    cycle_id = read(session_factory, lambda s: s.scalars(select(Cycle.id)).one())

    assert 'id="need-form"' not in viewer_console.text("/console/donations")
    detail = viewer_console.text(f"/console/donations/cycles/{cycle_id}")
    assert "Ana" in detail and mask(ANA) in detail and ANA not in detail
    response = viewer_console.post(
        "/console/donations/needs", {"item": "Beans", "quantity": "3", "cycle_day": "monday"}
    )
    assert response.status_code == 403
    assert count(session_factory, Need) == 2


def test_another_communitys_cycle_is_not_found(
    console_for: Callable[[], ConsoleClient],
    make_coordinator: MakeCoordinator,
    other_community: Community,
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    add_needs(session_factory, community)
    pledge_by_sms(sms, ANA, "Ana", "1 6")
    cycle_id = read(session_factory, lambda s: s.scalars(select(Cycle.id)).one())
    make_coordinator(other_community, "hill@example.org", Role.COORDINATOR)
    outsider = console_for()
    assert outsider.login("hill@example.org").status_code == 302

    assert outsider.get(f"/console/donations/cycles/{cycle_id}").status_code == 404
    page = outsider.text("/console/donations")
    assert "20 kg Rice" not in page and "Church hall" not in page
    assert "No donation roster yet" in page
    # Their first need starts their own roster; ours is untouched.
    outsider.post(
        "/console/donations/needs", {"item": "Water", "quantity": "5", "cycle_day": "friday"}
    )
    schedules = read(
        session_factory,
        lambda s: {d.community_id: d.weekday for d in s.scalars(select(DonationSchedule))},
    )
    assert schedules == {community.id: 5, other_community.id: 4}


def test_cycle_totals_are_per_unit_never_across_units() -> None:
    now = clock.now()
    coverage = CycleCoverage(
        day=now.date(),
        starts_at=now,
        ends_at=now,
        cycle_id=None,
        lines=[
            CoverageLine(1, "Rice", "kg", 20, 6, 2),
            CoverageLine(2, "Flour", "kg", 10, 10, 0),
            CoverageLine(3, "Oil", "L", 10, 4, 4),
            CoverageLine(4, "Drivers", "", 2, 2, 1),
        ],
    )
    assert [(t.unit, t.target, t.pledged, t.delivered) for t in coverage.totals] == [
        ("kg", 30, 16, 2),
        ("L", 10, 4, 4),
        ("Drivers", 2, 2, 1),
    ]
    assert coverage.covered == 2
    assert not hasattr(coverage, "target")  # no sum across units to misuse
