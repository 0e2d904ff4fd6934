"""The phone simulator in Chromium: a reply's line breaks show as the phone would show them,
and the site has a favicon (a browser asks for ``/favicon.ico`` on every first visit)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.db import unit_of_work
from service.models import Community
from service.rosters.shifts import add_shift
from tests.browser.conftest import LiveServer

WIDTH = 360


def test_simulator_shows_line_breaks_as_a_phone_would(
    page: Any, live: LiveServer, community: Community, session_factory: sessionmaker[Session]
) -> None:
    starts = clock.now() + timedelta(days=1)
    with unit_of_work(session_factory) as session:
        add_shift(
            session,
            session.get_one(Community, community.id),
            title="Sandbag team",
            place="School gym",
            starts_at=starts,
            ends_at=starts + timedelta(hours=3),
            capacity=3,
        )
    page.set_viewport_size({"width": WIDTH, "height": 740})
    page.goto("/simulator/?community=riverside&phone=%2B12025550177")
    for text in ("JOIN", "Sam", "YES", "SHIFTS"):
        page.fill("input[name=body]", text)
        page.click("form.compose button")
        page.wait_for_selector(f"ol.thread li.inbound .body:text-is('{text}')")
    bodies = page.locator("ol.thread li.outbound .body")
    shown = [bodies.nth(i).inner_text() for i in range(bodies.count())]
    stored = page.evaluate(
        "[...document.querySelectorAll('ol.thread li.outbound .body')].map(e => e.textContent)"
    )
    multi_line = [text for text in stored if "\n" in text.strip()]
    assert multi_line, f"a reply with a line break: {stored}"
    # innerText keeps a line break only where the page renders one (white-space: pre-wrap).
    assert [s for s in shown if "\n" in s.strip()] == multi_line
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    # each text carries the day and time the phone would show, in the community's time zone
    local = clock.now().astimezone(ZoneInfo(community.timezone))
    stamp = page.locator("ol.thread li.inbound small").last.inner_text()
    assert local.strftime("%a %d %b") in stamp, stamp


def test_the_favicon_is_served(page: Any, live: LiveServer) -> None:
    response = page.request.get("/favicon.ico")
    assert response.status == 200
    assert response.headers["content-type"] == "image/x-icon"
    assert response.body()[:4] == b"\x00\x00\x01\x00"  # an ICO header
