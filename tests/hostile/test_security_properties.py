"""The properties of SECURITY.md, one test (or a few) per red-team finding of issue 16.

Each test names the finding it holds. The route-walking test (``test_console_routes.py``)
holds the general form of finding 9 across every route.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.db import unit_of_work
from service.models import Assignment, Community, Role, Volunteer, VolunteerStatus
from service.rosters.shifts import add_shift, claim
from tests.service.console.conftest import (  # noqa: F401 - fixtures
    ConsoleClient,
    MakeCoordinator,
    console,
    console_for,
    make_coordinator,
    other_community,
    owner_console,
    viewer_console,
)


def add_volunteer(
    session_factory: sessionmaker[Session], community: Community, name: str, phone: str
) -> int:
    with unit_of_work(session_factory) as session:
        volunteer = Volunteer(
            community_id=community.id,
            phone=phone,
            name=name,
            status=VolunteerStatus.ACTIVE,
            consent_at=clock.now(),
            consent_source="test",
        )
        session.add(volunteer)
        session.flush()
        return volunteer.id


# ----- finding 9: hostile values are 404/400, never 500, never an error-level traceback -----
@pytest.fixture
def booked(session_factory: sessionmaker[Session], community: Community) -> tuple[int, int]:
    """(shift id, assignment id) of a booked shift in the community."""
    volunteer_id = add_volunteer(session_factory, community, "Ana Lopez", "+12025550123")
    now = clock.now()
    with unit_of_work(session_factory) as session:
        home = session.get_one(Community, community.id)
        shift = add_shift(
            session,
            home,
            title="Sandbags",
            place="Depot",
            starts_at=now + timedelta(days=1),
            ends_at=now + timedelta(days=1, hours=3),
            capacity=3,
        )
        session.flush()
        claim(session, session.get_one(Volunteer, volunteer_id), home, shift.id, now)
        assignment = session.scalars(select(Assignment)).one()
        return shift.id, assignment.id


def test_finding_9_ids_beyond_the_database_integer_are_404_or_400(
    console: ConsoleClient,  # noqa: F811
    booked: tuple[int, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    for path in (
        "/console/volunteers/2147483648",
        "/console/shifts/2147483648",
        "/console/broadcasts/99999999999999999999",
    ):
        assert console.get(path).status_code == 404, path
    for path in ("/console/messages?before=2147483648", "/console/inbox?before=9" + "9" * 30):
        assert console.get(path).status_code == 400, path
    response = console.post("/console/shifts/2147483648/cancel", {})
    assert response.status_code == 404
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage()[:200] for r in errors]


@pytest.mark.parametrize("hours", ["inf", "-inf", "nan", "1e308", "Infinity"])
def test_finding_9_non_finite_hours_are_a_400(
    console: ConsoleClient,  # noqa: F811
    booked: tuple[int, int],
    hours: str,
) -> None:
    _shift_id, assignment_id = booked
    response = console.post(
        f"/console/assignments/{assignment_id}/attendance",
        {"status": "checked_out", "hours": hours},
    )
    assert response.status_code == 400
    assert "number" in response.get_data(as_text=True)


def test_finding_9_cr_lf_in_next_never_reaches_a_header(
    console_for: Callable[[], ConsoleClient],  # noqa: F811
    make_coordinator: MakeCoordinator,  # noqa: F811
    community: Community,
) -> None:
    make_coordinator(community, "c@example.org", Role.COORDINATOR)
    browser = console_for()
    response = browser.post(
        "/console/login",
        {
            "email": "c@example.org",
            "password": "correct horse battery",
            "next": "/console/volunteers\r\nSet-Cookie: planted=1",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/console/")
    assert "planted" not in response.headers.get("Set-Cookie", "")


def test_finding_9_preview_with_another_communitys_roster_is_a_400(
    console: ConsoleClient,  # noqa: F811
    session_factory: sessionmaker[Session],
    other_community: Community,  # noqa: F811
) -> None:
    now = clock.now()
    with unit_of_work(session_factory) as session:
        theirs = add_shift(
            session,
            session.get_one(Community, other_community.id),
            title="Theirs",
            place="Far",
            starts_at=now + timedelta(days=1),
            ends_at=now + timedelta(days=1, hours=1),
            capacity=1,
        )
        session.flush()
        roster_id = theirs.roster_id
    response = console.post(
        "/console/broadcasts/preview",
        {"segment": "roster", "roster_id": str(roster_id), "text": "Hello"},
    )
    assert response.status_code == 400
    assert "Theirs" not in response.get_data(as_text=True)


def test_finding_9_a_value_the_database_refuses_is_a_400_without_sql_in_the_log(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """The general net under the bounded ids: a ``DataError`` anywhere is the client's 400."""
    from sqlalchemy.exc import DataError

    @app.get("/_test/data-error")
    def data_error() -> str:
        raise DataError("SELECT secret FROM volunteers WHERE id = %(id)s", {"id": 1}, Exception())

    caplog.set_level(logging.INFO)
    response = app.test_client().get("/_test/data-error")
    assert response.status_code == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "SELECT" not in caplog.text
