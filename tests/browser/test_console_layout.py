"""Every console page on a phone (360 x 740) and on a desktop (1280 x 800), as each role, in
Debian chromium: the demo community plus 200 more volunteers and 500 texts.

On every page that answers GET: nothing is wider than the screen, no text column is narrower
than 20 characters, nothing is cut off sideways inside a box, controls are at least 44 px high,
and the navigation reaches every area the role may open (at phone width through the Menu
button). The inbox with 20 threads is at most three screens tall on a phone. Each page is
screenshotted into ``test-artifacts/layout-<role>-<page>-<width>.png``; the browser runs with
JavaScript off, as every page must work without it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import clock
from service.communities.demo import DEMO_EMAIL, DEMO_NUMBER, DEMO_PASSWORD, seed_demo
from service.db import unit_of_work
from service.models import (
    Broadcast,
    CallOut,
    CallOutAsk,
    Channel,
    Community,
    CycleNeed,
    Direction,
    Message,
    MessageStatus,
    Role,
    Shift,
    Volunteer,
)
from service.rosters import donations
from tests.browser.conftest import (
    ARTIFACTS,
    PASSWORD,
    REQUIRED,
    TIMEOUT_MS,
    LiveServer,
    MakeCoordinator,
    browser_unavailable,
    login,
)

_reason = browser_unavailable()
if _reason and not REQUIRED:
    pytest.skip(_reason, allow_module_level=True)

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
EXTRA_VOLUNTEERS, EXTRA_TEXTS = 200, 500
OUTBOUND_STATUSES = [
    MessageStatus.PENDING,
    MessageStatus.REPLIED,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
    MessageStatus.FAILED,
    MessageStatus.SUPPRESSED,
]
NAV = (
    ("console.dashboard", "Dashboard"),
    ("console.volunteers", "Volunteers"),
    ("console.shifts", "Shifts"),
    ("console.donations", "Donations"),
    ("console.inbox", "Inbox"),
    ("console.broadcast_new", "Broadcast"),
    ("console.messages", "Messages"),
    ("console.reports", "Reports"),
    ("console.settings", "Settings"),
    ("console.audit_log", "Audit log"),
)
# Pages that answer GET but are files, or that only exist mid-login.
NOT_PAGES = {"console.login", "console.login_code", "console.inbound_media"}  # media: a file
LONG_WORDS = (
    "Road closed at the bridge, water is rising fast near the school; can someone with a "
    "truck bring sandbags to 14 Riverside Avenue before dark? Supercalifragilistic-"
    "expialidocious-length-words-should-wrap-too."
)

# Everything the page checks, in one pass in the page: a list of problems in words.
CHECK_PAGE = (Path(__file__).parent / "layout_check.js").read_text()


def seed(factory: sessionmaker[Session]) -> dict[str, int]:
    """The demo community, 200 more volunteers, 500 texts (threads, media, call-out answers,
    failures, long words), a broadcast and a drop-off with pledges. Returns ids for URLs."""
    rng = random.Random(17)
    now = clock.now()
    with unit_of_work(factory) as session:
        # The suite's test community holds the demo's number: move it out of the way.
        for channel in session.scalars(select(Channel).where(Channel.address == DEMO_NUMBER)):
            channel.address = "+12025550199"
        session.flush()
        community = seed_demo(session).community
        session.flush()
        number = DEMO_NUMBER
        volunteers = list(
            session.scalars(select(Volunteer).where(Volunteer.community_id == community.id))
        )
        for n in range(EXTRA_VOLUNTEERS):
            volunteer = Volunteer(
                community_id=community.id,
                phone=f"+1202556{n:04d}",
                name=f"Volunteer {n} {'Maximiliana-Wolkenstein' if n % 17 == 0 else 'Diaz'}",
                status=VolunteerStatus.ACTIVE if n % 9 else VolunteerStatus.PAUSED,
                language=("en", "es", "hi")[n % 3],
                skills=["driver", "first aid"] if n % 5 == 0 else [],
                consent_at=now - timedelta(days=30),
            )
            session.add(volunteer)
            volunteers.append(volunteer)
        session.flush()
        shift = session.scalars(
            select(Shift).where(Shift.community_id == community.id).order_by(Shift.id)
        ).first()
        assert shift is not None
        callout = CallOut(community_id=community.id, shift_id=shift.id, need=4, text="")
        session.add(callout)
        session.flush()
        broadcast = Broadcast(
            community_id=community.id,
            text="Sandbags needed at the school gym at noon. " + LONG_WORDS,
            recipients=120,
            created_by=DEMO_EMAIL,
        )
        session.add(broadcast)
        session.flush()
        talkers = volunteers[:60]
        for n in range(EXTRA_TEXTS):
            volunteer = talkers[n % len(talkers)]
            inbound = (n // len(talkers)) % 3 != 2  # each talker texts both ways
            at = now - timedelta(minutes=EXTRA_TEXTS - n)
            body = rng.choice(
                [
                    "SHIFTS",
                    "where do I park?",
                    "HELP",
                    LONG_WORDS,
                    "Thanks!\nSee you there.",
                    "1",
                ]
            )
            message = Message(
                community_id=community.id,
                volunteer_id=volunteer.id,
                direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
                kind="inbound" if inbound else rng.choice(["reply", "broadcast", "reminder"]),
                from_address=volunteer.phone if inbound else number,
                to_address=number if inbound else volunteer.phone,
                body=body,
                status=MessageStatus.PROCESSED if inbound else rng.choice(OUTBOUND_STATUSES),
                created_at=at,
                num_media=1 if inbound and n % 23 == 0 else 0,
                attention=("help" if body == "HELP" else "unknown")
                if inbound and body not in ("SHIFTS", "1")
                else None,
                error_code=30003 if not inbound and n % 7 == 0 else None,
                decision="held for quiet hours" if not inbound and n % 11 == 0 else None,
                broadcast_id=broadcast.id if not inbound and n % 5 == 0 else None,
            )
            session.add(message)
        for volunteer in volunteers[:8]:
            session.add(
                CallOutAsk(
                    callout_id=callout.id,
                    volunteer_id=volunteer.id,
                    asked_at=now - timedelta(hours=1),
                    answered_at=now - timedelta(minutes=30),
                    answer=rng.choice(["yes", "no", "late"]),
                )
            )
        schedule = donations.donation_schedule(session, community)
        cycle = donations.cycle_for(
            session, schedule, community, donations.next_day(schedule, community, now)
        )
        rows = session.scalars(select(CycleNeed).where(CycleNeed.cycle_id == cycle.id)).all()
        for need_row, volunteer in zip(rows, volunteers[:3], strict=False):
            donations.pledge(session, volunteer, community, need_row.id, 3, now)
        return {
            "community_id": community.id,
            "shift_id": shift.id,
            "volunteer_id": volunteers[5].id,
            "broadcast_id": broadcast.id,
            "cycle_id": cycle.id,
        }


def page_urls(app: Flask, ids: dict[str, int]) -> dict[str, str]:
    """Every console page answering GET (files and mid-login pages aside), with real ids."""
    urls = {}
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            endpoint = rule.endpoint
            if not endpoint.startswith("console.") or "GET" not in (rule.methods or ()):
                continue
            if endpoint in NOT_PAGES or re.search(r"\.(csv|zip)$", rule.rule):
                continue
            args: dict[str, Any] = {name: ids[name] for name in rule.arguments}  # url_for: **Any
            urls[endpoint.removeprefix("console.")] = url_for(endpoint, **args)
    return urls


@pytest.fixture
def demo(
    app: Flask,
    live: LiveServer,
    session_factory: sessionmaker[Session],
    make_coordinator: MakeCoordinator,
) -> dict[str, int]:
    ids = seed(session_factory)
    with session_factory() as session:
        community = session.get_one(Community, ids["community_id"])
    make_coordinator(community, "coordinator-with-a-long-address@example.org", Role.COORDINATOR)
    make_coordinator(community, "viewer@example.org", Role.VIEWER)
    return ids


@pytest.fixture
def no_script_context(browser: Any, live: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=live.url, viewport=PHONE, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


ROLES = (
    ("owner", DEMO_EMAIL, DEMO_PASSWORD),
    ("coordinator", "coordinator-with-a-long-address@example.org", PASSWORD),
    ("viewer", "viewer@example.org", PASSWORD),
)


def check_nav(tab: Any, allowed: list[str], phone: bool, role: str) -> None:
    """Every area the role may open is a visible link inside the screen (at phone width
    behind the Menu button) and no other area is offered."""
    if phone:
        menu = tab.locator("details.nav-menu > summary")
        assert menu.is_visible(), "no Menu button at phone width"
        assert tab.locator("nav.main-nav").is_hidden()
        menu.click()
    nav = tab.get_by_role("navigation", name="Console")
    labels = [link.inner_text().strip() for link in nav.get_by_role("link").all()]
    assert labels == allowed
    width = tab.viewport_size["width"]
    for link in nav.get_by_role("link").all():
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        assert box["height"] >= 44, (link.inner_text(), box)
    if phone:
        tab.screenshot(path=str(ARTIFACTS / f"layout-{role}-menu-open-360.png"))
        tab.locator("details.nav-menu > summary").click()  # closed again for the screenshot


@pytest.mark.parametrize("role, email, password", ROLES, ids=[r[0] for r in ROLES])
def test_every_page_fits_a_phone_and_a_desktop(
    app: Flask,
    demo: dict[str, int],
    no_script_context: Any,
    role: str,
    email: str,
    password: str,
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    urls = page_urls(app, demo)
    assert {"dashboard", "inbox", "messages", "donations", "cycle", "shift"} <= set(urls)
    tab = no_script_context.new_page()
    login(tab, email, password)
    allowed = []
    statuses = {}
    for name, url in urls.items():
        response = tab.goto(url)
        assert response is not None
        statuses[name] = response.status
    for endpoint, label in NAV:
        if statuses.get(endpoint.removeprefix("console.")) == 200:
            allowed.append(label)
    assert "Dashboard" in allowed and "Inbox" in allowed
    problems: list[str] = []
    for viewport in (PHONE, DESKTOP):
        tab.set_viewport_size(viewport)
        phone = viewport is PHONE
        for name, url in urls.items():
            tab.goto(url)
            problems += [
                f"{role} {name} @{viewport['width']}: {p}" for p in tab.evaluate(CHECK_PAGE)
            ]
            if name == "dashboard":
                check_nav(tab, allowed, phone, role)
            tab.screenshot(
                path=str(ARTIFACTS / f"layout-{role}-{name}-{viewport['width']}.png"),
                full_page=True,
            )
    assert not problems, "\n".join(problems)


def test_twenty_inbox_threads_fit_in_three_phone_screens(
    demo: dict[str, int], no_script_context: Any
) -> None:
    tab = no_script_context.new_page()
    login(tab, DEMO_EMAIL, DEMO_PASSWORD)
    tab.goto("/console/inbox?show=all")
    threads = tab.locator("li.thread-item")
    assert "Older" in tab.locator("nav.pager").inner_text()  # more than 20 threads
    assert threads.count() == 20
    height = tab.evaluate("document.documentElement.scrollHeight")
    assert height <= 3 * PHONE["height"], f"20 threads take {height}px"
    # A thread opens without script: the last texts both ways and one reply box.
    first = threads.first
    first.locator("summary").click()
    assert first.locator("ol.thread li.inbound").count() >= 1
    assert first.locator("ol.thread li.outbound").count() >= 1
    assert first.locator("textarea[name=text]").count() == 1
    problems = tab.evaluate(CHECK_PAGE)
    assert not problems, "\n".join(problems)
    tab.screenshot(path=str(ARTIFACTS / "layout-inbox-thread-open-360.png"), full_page=True)
    # Replying and marking handled are plain forms: no script needed.
    name = first.locator("summary .name").inner_text()
    first.locator("textarea[name=text]").fill("On our way.")
    first.get_by_role("button", name="Send reply").click()
    tab.wait_for_url("**/console/inbox")
    assert "Reply queued" in tab.get_by_role("status").inner_text()
    waiting = tab.locator("li.thread-item summary .name").all_inner_texts()
    assert name not in waiting  # the reply handled the whole thread
    second = tab.locator("li.thread-item").first
    second.locator("summary").click()
    other = second.locator("summary .name").inner_text()
    second.get_by_role("button", name="Mark handled").click()
    tab.wait_for_url("**/console/inbox")
    assert "Marked handled" in tab.get_by_role("status").inner_text()
    assert other not in tab.locator("li.thread-item summary .name").all_inner_texts()
    # The message log: a compact row opens on a tap to the whole text.
    tab.goto("/console/messages")
    row = tab.locator("table.message-log tbody tr").first
    assert row.locator(".full-text").is_hidden()
    row.locator("summary").click()
    assert row.locator(".full-text").is_visible()
    tab.screenshot(path=str(ARTIFACTS / "layout-messages-row-open-360.png"), full_page=True)


def test_the_login_page_fits_a_phone_and_a_desktop(
    demo: dict[str, int], no_script_context: Any
) -> None:
    tab = no_script_context.new_page()
    for viewport in (PHONE, DESKTOP):
        tab.set_viewport_size(viewport)
        tab.goto("/console/login")
        problems = tab.evaluate(CHECK_PAGE)
        assert not problems, "\n".join(problems)
        tab.screenshot(
            path=str(ARTIFACTS / f"layout-login-{viewport['width']}.png"), full_page=True
        )
    login(tab, DEMO_EMAIL, DEMO_PASSWORD)  # signing in needs no script either
