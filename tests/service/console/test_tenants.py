"""Tenant isolation: walk every console route in the URL map as a coordinator of another
community, with the ids of this community's objects, and expect 404/403 for each; pages
without ids must not show this community's data. A control pass as this community's own
owner proves the URLs name real pages (so a 404 means isolation, not a typo)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from service import clock
from service.db import unit_of_work
from service.models import (
    Assignment,
    AuditEvent,
    Broadcast,
    CallOut,
    Community,
    CycleNeed,
    Direction,
    Membership,
    Message,
    MessageStatus,
    Pledge,
    PledgeStatus,
    Role,
    Volunteer,
    VolunteerStatus,
)
from service.rosters.donations import add_need, cycle_for, donation_schedule, next_day
from service.rosters.shifts import add_shift, claim
from service.web.console import PUBLIC_ENDPOINTS
from tests.fakes.twilio_server import FakeTwilio
from tests.service.console.conftest import ConsoleClient, MakeCoordinator

SENTINELS = ("Zed Sentinel", "Sentinel Shift", "Sentinel Rice", "Sentinel text", "Sentinel news")
SENTINEL_PHONE = "+12025550177"


@pytest.fixture
def ids_in_community(
    session_factory: sessionmaker[Session],
    community: Community,
    make_coordinator: MakeCoordinator,
    fake_twilio: FakeTwilio,
) -> dict[str, int]:
    """One object of every kind in ``community``, keyed by the URL argument naming it."""
    owner = make_coordinator(community, "owner-a@example.org", Role.OWNER)
    now = clock.now()
    with unit_of_work(session_factory) as session:
        home = session.get_one(Community, community.id)
        volunteer = Volunteer(
            community_id=home.id,
            phone=SENTINEL_PHONE,
            name="Zed Sentinel",
            status=VolunteerStatus.ACTIVE,
            consent_at=now,
            consent_source="test",
        )
        session.add(volunteer)
        shift = add_shift(
            session,
            home,
            title="Sentinel Shift",
            place="Depot",
            starts_at=now + timedelta(days=1),
            ends_at=now + timedelta(days=1, hours=3),
            capacity=3,
        )
        session.flush()
        claim(session, volunteer, home, shift.id, now)
        assignment = session.scalars(select(Assignment)).one()
        need = add_need(session, home, weekday=now.weekday(), item="Sentinel Rice", quantity=5)
        schedule = donation_schedule(session, home)
        cycle = cycle_for(session, schedule, home, next_day(schedule, home, now))
        session.flush()
        cycle_need_id = session.scalars(
            select(CycleNeed.id).where(CycleNeed.cycle_id == cycle.id)
        ).first()
        message = Message(
            community_id=home.id,
            volunteer_id=volunteer.id,
            direction=Direction.INBOUND,
            kind="inbound",
            from_address=SENTINEL_PHONE,
            to_address="+12025550100",
            body="Sentinel text",
            status=MessageStatus.PROCESSED,
            attention="unknown",
            twilio_sid="MM" + "e" * 32,
            media=[{"sid": "ME" + "e" * 32, "content_type": "image/png"}],
        )
        fake_twilio.add_media("MM" + "e" * 32, "ME" + "e" * 32, "image/png", b"Sentinel text")
        broadcast = Broadcast(
            community_id=home.id, text="Sentinel news", status="awaiting_approval"
        )
        callout = CallOut(community_id=home.id, shift_id=shift.id, need=1)
        session.add_all([message, broadcast, callout])
        session.flush()
        pledge = None
        if cycle_need_id is not None:
            pledge = Pledge(
                cycle_need_id=cycle_need_id,
                volunteer_id=volunteer.id,
                quantity=1,
                status=PledgeStatus.PLEDGED,
            )
            session.add(pledge)
        event = AuditEvent(community_id=home.id, actor="owner-a@example.org", action="created")
        session.add(event)
        session.flush()
        membership = session.scalar(select(Membership).where(Membership.coordinator_id == owner.id))
        assert membership is not None
        ids = {
            "volunteer_id": volunteer.id,
            "shift_id": shift.id,
            "assignment_id": assignment.id,
            "roster_id": shift.roster_id,
            "need_id": need.id,
            "cycle_id": cycle.id,
            "message_id": message.id,
            "media_index": 0,
            "broadcast_id": broadcast.id,
            "callout_id": callout.id,
            "membership_id": membership.id,
            "event_id": event.id,
        }
        if pledge is not None:
            ids["pledge_id"] = pledge.id
        return ids


def readable(response: TestResponse) -> str:
    """The text a response carries; for a ZIP download, the text of every file in it."""
    if response.mimetype == "application/zip":
        bundle = zipfile.ZipFile(io.BytesIO(response.get_data()))
        return "\n".join(bundle.read(name).decode() for name in bundle.namelist())
    return response.get_data(as_text=True)


def console_rules(app: Flask) -> list[tuple[str, str, list[str]]]:
    """(endpoint, rule, methods) for every console route but the public sign-in pages."""
    rules = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("console.") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        rules.append((rule.endpoint, rule.rule, methods))
    return rules


def build(app: Flask, endpoint: str, ids: dict[str, int]) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    unknown = set(rule.arguments) - set(ids)
    assert not unknown, (
        f"{rule.rule}: URL arguments {sorted(unknown)} are not covered by the tenant test; "
        "name them after what they identify and seed one in ids_in_community"
    )
    with app.test_request_context():
        values: dict[str, Any] = {name: ids[name] for name in rule.arguments}  # url_for: **Any
        return url_for(endpoint, **values)


def test_every_console_route_is_closed_to_another_community(
    app: Flask,
    ids_in_community: dict[str, int],
    other_community: Community,
    make_coordinator: MakeCoordinator,
    console_for: Callable[[], ConsoleClient],
) -> None:
    make_coordinator(other_community, "owner-b@example.org", Role.OWNER)
    stranger = console_for()
    assert stranger.login("owner-b@example.org").status_code == 302
    rules = console_rules(app)
    assert len(rules) >= 5, "the console's routes are registered"
    walked = 0
    for endpoint, rule, methods in rules:
        has_args = "<" in rule
        url = build(app, endpoint, ids_in_community)
        for method in methods:
            if method == "GET":
                response = stranger.get(url)
            elif has_args:
                response = stranger.post(url, {})
            else:
                continue  # acts on the stranger's own community; no id to walk
            walked += 1
            body = readable(response)
            if has_args:
                assert response.status_code in (403, 404), (method, url, response.status_code)
            else:
                assert response.status_code in (200, 302), (method, url, response.status_code)
            leaked = [s for s in SENTINELS if s in body]
            assert not leaked and SENTINEL_PHONE not in body, (method, url, leaked)
            assert SENTINEL_PHONE[-4:] + "<" not in body  # not even a masked form of it
    with_ids = sum(1 for _e, rule, _m in rules if "<" in rule)
    assert with_ids >= 10 and walked >= with_ids, (with_ids, walked)


def test_the_walked_urls_are_real_pages_for_their_own_community(
    app: Flask,
    ids_in_community: dict[str, int],
    console_for: Callable[[], ConsoleClient],
) -> None:
    owner = console_for()
    assert owner.login("owner-a@example.org").status_code == 302
    checked = 0
    for endpoint, rule, methods in console_rules(app):
        if "<" in rule and "GET" in methods:
            response = owner.get(build(app, endpoint, ids_in_community))
            assert response.status_code in (200, 302), (rule, response.status_code)
            checked += 1
    assert checked >= 1 or not any("<" in rule for _, rule, _m in console_rules(app))
