"""Walking every route (console, sign-in, health, webhooks, simulator) with hostile values.

Signed in as each role.

Each hostile value class (huge ids, inf/NaN, CR/LF, NUL, astral characters, 10 kB strings) is
sent to every parameter of every GET and POST route: the URL's ids, the query string and the
form fields any console form submits (read from the templates, so a new field is walked
without editing this file). Signed in as an owner, a coordinator and a viewer of one
community while another community holds sentinel data, the walk asserts:

- no answer is a 5xx;
- no answer carries the other community's names, texts or numbers;
- every commit that writes anything also writes an audit event (state changes are audited).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

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
from tests.service.console.conftest import (  # noqa: F401 - fixtures
    PASSWORD,
    ConsoleClient,
    MakeCoordinator,
    console_for,
    make_coordinator,
    other_community,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "service" / "templates" / "console"
# Query parameters the console reads (forms' fields come from the templates).
QUERY_PARAMETERS = (
    "q",
    "skill",
    "language",
    "status",
    "page",
    "action",
    "kind",
    "direction",
    "before",
    "months",
    "when",
    "next",
    "roster_id",
)
HOSTILE = {
    "huge id": "2147483648",
    "huger id": "9" * 40,
    "negative": "-1",
    "inf": "inf",
    "nan": "NaN",
    "1e308": "1e308",
    "crlf": "/console/x\r\nSet-Cookie: planted=1",
    "nul": "a\x00b",
    "astral": "\U0001f600\U00010348\U0001f9d1\u200d\U0001f692",
    "10 kB": "x" * 10 * 1024,
}
PATH_VALUES = ("2147483648", "9" * 40, "-1", "inf", "nan", "1e308", "%0D%0A", "%00", "%F0%9F%98%80")
SENTINELS = ("Zed Sentinel", "Sentinel Shift", "Sentinel Rice", "Sentinel text", "Sentinel news")
SENTINEL_PHONE = "+12025550177"
# Signing out ends the walk (the session tests cover it); static files take no parameters.
NEVER_WALKED = {"console.logout", "static"}
UNAUDITED_TABLES = {"audit_events"}
WRITE = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


def form_fields() -> list[str]:
    """Every field name a console form submits, read from the templates."""
    names: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        names.update(re.findall(r'name="([a-z_][a-z0-9_]*)"', template.read_text()))
    names.discard("csrf_token")
    names.update(f"template_{kind}" for kind in ("reminder", "callout", "ask", "broadcast"))
    return sorted(names)


def seed(
    session_factory: sessionmaker[Session], community: Community, prefix: str
) -> dict[str, int]:
    """One object of every kind in ``community``, named with ``prefix``; ids by URL argument."""
    now = clock.now()
    phone = SENTINEL_PHONE if prefix == "Sentinel" else "+12025550166"
    with unit_of_work(session_factory) as session:
        home = session.get_one(Community, community.id)
        volunteer = Volunteer(
            community_id=home.id,
            phone=phone,
            name="Zed Sentinel" if prefix == "Sentinel" else f"{prefix} Volunteer",
            status=VolunteerStatus.ACTIVE,
            consent_at=now,
            consent_source="test",
        )
        session.add(volunteer)
        shift = add_shift(
            session,
            home,
            title=f"{prefix} Shift",
            place="Depot",
            starts_at=now + timedelta(days=1),
            ends_at=now + timedelta(days=1, hours=3),
            capacity=3,
        )
        session.flush()
        claim(session, volunteer, home, shift.id, now)
        assignment = session.scalars(
            select(Assignment).where(Assignment.shift_id == shift.id)
        ).one()
        need = add_need(session, home, weekday=now.weekday(), item=f"{prefix} Rice", quantity=5)
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
            from_address=phone,
            to_address="+12025550100",
            body=f"{prefix} text",
            status=MessageStatus.PROCESSED,
            attention="unknown",
        )
        broadcast = Broadcast(
            community_id=home.id, text=f"{prefix} news", status="awaiting_approval"
        )
        callout = CallOut(community_id=home.id, shift_id=shift.id, need=1)
        session.add_all([message, broadcast, callout])
        session.flush()
        pledge = Pledge(
            cycle_need_id=cycle_need_id,
            volunteer_id=volunteer.id,
            quantity=1,
            status=PledgeStatus.PLEDGED,
        )
        session.add(pledge)
        event_row = AuditEvent(community_id=home.id, actor="seed@example.org", action="created")
        session.add(event_row)
        session.flush()
        membership = session.scalars(
            select(Membership).where(Membership.community_id == home.id)
        ).first()
        return {
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
            "membership_id": membership.id if membership else 0,
            "event_id": event_row.id,
            "pledge_id": pledge.id,
        }


@dataclass
class WriteWatch:
    """Requests whose committed writes include no audit event.

    Judged per request, not per commit: the hand-over to the queue after an audited change
    commits its own bookkeeping (the rows' queue marks) in a second transaction.
    """

    pending: dict[int, set[str]] = field(default_factory=dict)
    committed: set[str] = field(default_factory=set)
    unaudited: list[tuple[str, set[str]]] = field(default_factory=list)
    request: str = ""

    def statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        """A write that changed rows (an UPDATE matching none changes nothing to audit;
        drivers that cannot tell say -1, which counts)."""
        found = WRITE.match(statement)
        if found and getattr(cursor, "rowcount", -1) != 0:
            self.pending.setdefault(id(conn), set()).add(found.group(2).lower())

    def commit(self, conn: Any) -> None:
        self.committed |= self.pending.pop(id(conn), set())

    def rollback(self, conn: Any) -> None:
        self.pending.pop(id(conn), None)

    def start(self, request: str) -> None:
        """Judge the previous request, then watch ``request``."""
        if self.committed - UNAUDITED_TABLES and "audit_events" not in self.committed:
            self.unaudited.append((self.request, set(self.committed)))
        self.committed = set()
        self.request = request


@pytest.fixture
def watch() -> Iterator[WriteWatch]:
    found = WriteWatch()
    hooks: list[tuple[str, Callable[..., None]]] = [
        ("after_cursor_execute", found.statement),
        ("commit", found.commit),
        ("rollback", found.rollback),
    ]
    for name, hook in hooks:
        event.listen(Engine, name, hook)
    yield found
    for name, hook in hooks:
        event.remove(Engine, name, hook)


def routes(app: Flask) -> list[tuple[str, str, list[str]]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NEVER_WALKED:
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        found.append((rule.endpoint, rule.rule, methods))
    return found


def path_for(rule: str, ids: dict[str, int], hostile: tuple[str, str] | None = None) -> str:
    """The rule's URL with this community's ids, or with one argument replaced by ``hostile``."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if hostile is not None and name == hostile[0]:
            return hostile[1]
        return str(ids[name])

    return re.sub(r"<(?:\w+:)?(\w+)>", fill, rule)


@dataclass
class Walker:
    browser: ConsoleClient
    token: str
    watch: WriteWatch
    checked: int = 0

    def send(self, method: str, url: str, data: dict[str, str] | None = None) -> None:
        self.watch.start(f"{method} {url[:120]} {sorted(data or {})[:6]}")
        if method == "GET":
            response = self.browser.client.get(url)
        else:
            form = dict(data or {})
            form["csrf_token"] = self.token
            response = self.browser.client.post(url, data=form)
        self.checked += 1
        where = (method, url[:200], sorted(data or {})[:8], response.status_code)
        assert response.status_code < 500, where
        assert response.mimetype is not None
        binary = response.mimetype == "application/zip" or response.mimetype.startswith("image/")
        body = "" if binary else response.get_data(as_text=True)  # the favicon is an image
        leaked = [s for s in SENTINELS if s in body]
        assert not leaked and SENTINEL_PHONE not in body, (where, leaked)
        if response.status_code == 302:
            assert "\r" not in response.headers["Location"], where
            assert "planted" not in response.headers.get("Set-Cookie", ""), where


def chunks(names: list[str], value: str, budget: int = 48 * 1024) -> Iterator[dict[str, str]]:
    """The parameters with ``value`` each, in as few requests as fit the body limit."""
    per_request = max(1, budget // (len(value.encode()) + 40))
    for start in range(0, len(names), per_request):
        yield dict.fromkeys(names[start : start + per_request], value)


@pytest.mark.parametrize("role", [Role.OWNER, Role.COORDINATOR, Role.VIEWER])
def test_every_route_with_every_hostile_value_as_every_role(
    app: Flask,
    session_factory: sessionmaker[Session],
    community: Community,
    other_community: Community,  # noqa: F811
    make_coordinator: MakeCoordinator,  # noqa: F811
    console_for: Callable[[], ConsoleClient],  # noqa: F811
    watch: WriteWatch,
    role: Role,
) -> None:
    ids = seed(session_factory, community, "Home")
    seed(session_factory, other_community, "Sentinel")
    make_coordinator(community, "walker@example.org", role)
    make_coordinator(community, "second-owner@example.org", Role.OWNER)
    browser = console_for()
    assert browser.login("walker@example.org").status_code == 302
    walker = Walker(browser, browser.csrf_token(), watch)
    watch.start("set-up")
    watch.unaudited.clear()  # the set-up's own writes
    fields = sorted(set(form_fields()) | set(QUERY_PARAMETERS))
    assert {"email", "hours", "roster_id", "phone", "text", "next"} <= set(fields)
    walked = routes(app)
    assert len(walked) >= 40, len(walked)
    for _endpoint, rule, methods in walked:
        arguments = re.findall(r"<(?:\w+:)?(\w+)>", rule)
        for method in methods:
            url = path_for(rule, ids)
            for value in HOSTILE.values():
                if method == "GET":
                    for data in chunks(fields, value, budget=6 * 1024):
                        walker.send(
                            "GET",
                            url + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in data.items()),
                        )
                else:
                    for data in chunks(fields, value):
                        walker.send("POST", url, data)
            for name in arguments:
                for raw in PATH_VALUES:
                    walker.send(method, path_for(rule, ids, (name, raw)))
    assert walker.checked > 500
    watch.start("end")
    unaudited = sorted(
        {(request.split(" [")[0], tuple(sorted(t))) for request, t in watch.unaudited}
    )
    assert not unaudited, unaudited


VALID = {
    "name": "Walked Person",
    "phone": "+12025550155",
    "language": "en",
    "skills": "driver",
    "consent": "on",
    "status": "checked_out",
    "hours": "2",
    "need": "1",
    "text": "Hello",
    "segment": "roster",
    "email": "walked@example.org",
    "password": "a long enough password",
    "role": "viewer",
    "title": "Walked shift",
    "place": "Hall",
    "capacity": "2",
    "item": "Beans",
    "quantity": "3",
    "cycle_day": "saturday",
}


@pytest.mark.parametrize("kind", ["huge id", "inf", "crlf", "astral", "10 kB"])
def test_one_hostile_field_among_valid_ones_never_fails_a_form(
    app: Flask,
    session_factory: sessionmaker[Session],
    community: Community,
    other_community: Community,  # noqa: F811
    make_coordinator: MakeCoordinator,  # noqa: F811
    console_for: Callable[[], ConsoleClient],  # noqa: F811
    watch: WriteWatch,
    kind: str,
) -> None:
    """Deeper than the walk above: the other fields are valid, so validation reaches each one."""
    ids = seed(session_factory, community, "Home")
    others = seed(session_factory, other_community, "Sentinel")
    make_coordinator(community, "walker@example.org", Role.OWNER)
    browser = console_for()
    assert browser.login("walker@example.org").status_code == 302
    walker = Walker(browser, browser.csrf_token(), watch)
    watch.start("set-up")
    watch.unaudited.clear()  # the set-up's own writes
    base = dict(VALID, roster_id=str(others["roster_id"]))  # another community's roster
    for _endpoint, rule, methods in routes(app):
        if "POST" not in methods or rule.endswith(("/forget", "/delete")):
            continue
        url = path_for(rule, ids)
        for name in sorted(base):
            walker.send("POST", url, dict(base, **{name: HOSTILE[kind]}))
    assert walker.checked > 100
    watch.start("end")
    unaudited = sorted(
        {(request.split(" [")[0], tuple(sorted(t))) for request, t in watch.unaudited}
    )
    assert not unaudited, unaudited
