"""The console in a real browser (Debian chromium via Playwright) against the live app:
signing in, masked numbers, tenant isolation, settings, and the shift and broadcast flows.

Skipped as a whole when chromium is missing, unless ``HANDSUP_REQUIRE_BROWSER=1`` (then the
tests fail). Screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service.db import unit_of_work
from service.models import AuditEvent, Community, Role, Volunteer
from service.rosters import shifts as rosters
from service.volunteers.phones import mask
from tests.browser.conftest import (
    REQUIRED,
    LiveSms,
    MakeCoordinator,
    browser_unavailable,
    login,
    screenshot,
)

_reason = browser_unavailable()
if _reason and not REQUIRED:
    pytest.skip(_reason, allow_module_level=True)

VOLUNTEER_PHONE = "+12025554567"
MASKED = mask(VOLUNTEER_PHONE)  # +1••••••4567


def needs(app: Flask, *endpoints: str) -> None:
    """The pages a flow drives exist (a renamed endpoint fails here with a clear message)."""
    missing = [name for name in endpoints if name not in app.view_functions]
    assert not missing, f"console pages missing: {', '.join(missing)}"


def seed_shift(
    session_factory: sessionmaker[Session], community: Community, title: str = "Sandbag team"
) -> int:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    with unit_of_work(session_factory) as session:
        shift = rosters.add_shift(
            session,
            session.get_one(Community, community.id),
            title=title,
            place="School gym",
            starts_at=starts,
            ends_at=starts + timedelta(hours=3),
            capacity=4,
        )
        return shift.id


# -- a. signing in -----------------------------------------------------------------------------


def test_login_form_and_dashboard(
    page: Any, make_coordinator: MakeCoordinator, community: Community
) -> None:
    make_coordinator(community, "coord@example.org", Role.COORDINATOR)
    page.goto("/console/")
    assert "/console/login" in page.url  # signed out: sent to the login page
    page.get_by_label("Email").fill("coord@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "That email and password do not match."
    login(page, "coord@example.org")
    assert page.get_by_role("heading", level=1).inner_text() == community.name
    assert page.get_by_role("navigation", name="Console").is_visible()
    assert "coord@example.org · coordinator" in page.locator("header .who").inner_text()
    screenshot(page, "dashboard")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/login")
    assert "You are signed out." in page.content()


# -- b. masked numbers -------------------------------------------------------------------------


def test_viewer_sees_masked_numbers(
    page: Any,
    app: Flask,
    make_coordinator: MakeCoordinator,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    needs(app, "console.volunteers")
    with unit_of_work(session_factory) as session:
        session.add(
            Volunteer(
                community_id=community.id,
                phone=VOLUNTEER_PHONE,
                name="Maria Lopez",
                status=VolunteerStatus.ACTIVE,
                consent_at=datetime.now(UTC),
            )
        )
    make_coordinator(community, "viewer@example.org", Role.VIEWER)
    login(page, "viewer@example.org")
    page.goto("/console/volunteers")
    body = page.locator("main").inner_text()
    assert "Maria Lopez" in body
    assert MASKED in body
    assert VOLUNTEER_PHONE not in page.content()


# -- c. tenant isolation ------------------------------------------------------------------------


def test_another_communitys_shift_is_404(
    page: Any,
    app: Flask,
    make_coordinator: MakeCoordinator,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    needs(app, "console.shift")
    from service.communities.registry import create_community

    with unit_of_work(session_factory) as session:
        other = create_community(
            session,
            name="Hillside Pantry",
            slug="hillside",
            number="+12025550111",
            country="US",
            timezone="America/Chicago",
        )
    theirs = seed_shift(session_factory, other, "Their secret shift")
    ours = seed_shift(session_factory, community, "Our shift")
    make_coordinator(community, "coord@example.org", Role.COORDINATOR)
    login(page, "coord@example.org")
    response = page.goto(f"/console/shifts/{ours}")
    assert response is not None and response.status == 200
    assert "Our shift" in page.content()
    response = page.goto(f"/console/shifts/{theirs}")
    assert response is not None and response.status == 404
    assert "Their secret shift" not in page.content()
    assert "does not exist in this community" in page.content()


# -- d. settings ---------------------------------------------------------------------------------


def test_owner_changes_settings_through_the_form(
    page: Any,
    make_coordinator: MakeCoordinator,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    make_coordinator(community, "owner@example.org", Role.OWNER)
    login(page, "owner@example.org")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Settings").click()
    page.wait_for_url("**/console/settings")
    # A bad value: a message at the field, nothing saved.
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_label("Quiet hours start").fill("22:00")
    page.get_by_role("button", name="Save settings").click()
    assert "Nothing was saved" in page.get_by_role("alert").first.inner_text()
    assert "is not an IANA time zone" in page.locator("#error-timezone").inner_text()
    assert page.get_by_label("Quiet hours start").input_value() == "22:00"  # kept as typed
    # Fixed: saved, confirmed, audited.
    page.get_by_label("Time zone").fill("America/Chicago")
    page.get_by_label("Quiet hours end").fill("07:30")
    page.get_by_label("Shift reminders").fill("48h, 3h")
    page.get_by_label("Protect numbers: masked for every role").check()
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_url("**/console/settings")
    assert "Settings saved" in page.get_by_role("status").inner_text()
    assert page.get_by_label("Time zone").input_value() == "America/Chicago"
    assert page.get_by_label("Shift reminders").input_value() == "48h, 3h"
    assert page.get_by_label("Protect numbers: masked for every role").is_checked()
    screenshot(page, "settings", widths=(390,))
    with session_factory() as session:
        saved = session.get_one(Community, community.id)
        assert (saved.timezone, saved.quiet_start_minute, saved.quiet_end_minute) == (
            "America/Chicago",
            22 * 60,
            7 * 60 + 30,
        )
        assert saved.protect_numbers
        assert rosters.shifts_roster(session, saved).reminder_offsets == [48 * 60, 3 * 60]
        assert session.query(AuditEvent).filter_by(action="changed settings").count() == 1
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url("**/console/audit")
    row = page.locator("table.audit tbody tr").first
    assert "changed settings" in row.inner_text()
    assert "owner@example.org" in row.inner_text()


def test_viewer_reads_settings_but_cannot_save(
    page: Any, make_coordinator: MakeCoordinator, community: Community
) -> None:
    make_coordinator(community, "viewer@example.org", Role.VIEWER)
    login(page, "viewer@example.org")
    page.goto("/console/settings")
    assert page.get_by_label("Time zone").is_disabled()
    assert page.get_by_role("button", name="Save settings").count() == 0
    response = page.goto("/console/audit")
    assert response is not None and response.status == 403


# -- e. a shift from the form, a sign-up by text, a broadcast ----------------------------------


def test_shift_signup_by_text_and_broadcast(
    page: Any,
    app: Flask,
    make_coordinator: MakeCoordinator,
    community: Community,
    live_sms: LiveSms,
) -> None:
    needs(app, "console.shift_new", "console.shift", "console.broadcast_new", "console.messages")
    make_coordinator(community, "coord@example.org", Role.COORDINATOR)
    login(page, "coord@example.org")

    # A shift through the form, two days ahead in the community's time zone.
    zone = ZoneInfo(community.timezone)
    day = (datetime.now(zone) + timedelta(days=2)).date()
    page.goto("/console/shifts/new")
    form = page.locator("#shift-form")
    form.locator("[name=title]").fill("Sandbag team")
    form.locator("[name=place]").fill("School gym")
    form.locator("[name=starts]").fill(f"{day.isoformat()}T09:00")
    form.locator("[name=ends]").fill(f"{day.isoformat()}T12:00")
    form.locator("[name=capacity]").fill("3")
    page.get_by_role("button", name="Create shift").click()
    page.wait_for_url(re.compile(r".*/console/shifts/\d+$"))
    assert "Sandbag team" in page.get_by_role("heading", level=1).inner_text()
    assert "Nobody yet." in page.locator("#confirmed").inner_text()

    # A volunteer joins and signs up by text (signed webhooks to the live server).
    phone = "+12025557788"
    live_sms.send(phone, "JOIN")
    live_sms.send(phone, "Maria")
    assert any("Welcome" in text for text in live_sms.send(phone, "YES"))
    menu = " ".join(live_sms.send(phone, "SHIFTS"))
    assert "Sandbag team" in menu
    live_sms.send(phone, "1")
    page.reload()
    confirmed = page.locator("#confirmed")
    assert "Confirmed (1)" in confirmed.inner_text()
    assert "Maria" in confirmed.inner_text()
    assert phone in confirmed.inner_text()  # a coordinator sees the full number
    screenshot(page, "roster")

    # A broadcast through the composer: preview, send, then the message log.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Broadcast").click()
    page.wait_for_url("**/console/broadcasts/new")
    page.locator("#composer [name=text]").fill("Sandbags needed at the school gym at noon.")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_url("**/console/broadcasts/preview")
    assert page.locator("dd.recipients").inner_text() == "1"
    page.get_by_role("button", name="Send to 1 volunteer(s)").click()
    page.wait_for_url(re.compile(r".*/console/broadcasts/\d+$"))
    assert "Broadcast queued to 1 volunteer(s)." in page.get_by_role("status").inner_text()
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Messages").click()
    page.wait_for_url("**/console/messages")
    row = page.locator("table.message-log tr[data-kind=broadcast]")
    assert row.count() == 1
    assert "Sandbags needed at the school gym" in row.inner_text()
    status = row.locator("td.status").inner_text().strip()
    assert status in {"pending", "sending", "queued", "sent", "delivered"}, status
