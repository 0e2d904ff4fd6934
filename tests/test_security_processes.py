"""Findings 1, 2 and 3 of issue 16 held by the real processes: the Procfile's release, web
(gunicorn) and worker lines, against PostgreSQL and Redis when ``TEST_DATABASE_URL`` and
``TEST_REDIS_URL`` are set.

The console is driven over HTTP like a browser: sign in with the CSRF token, keep the
session cookie (sent by hand: it is ``Secure`` in production and the test speaks http).
"""

from __future__ import annotations

import http.client
import re
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from twilio.request_validator import RequestValidator

from service import clock
from service.communities.accounts import create_coordinator
from service.config import Settings
from service.db import unit_of_work
from service.models import (
    AuditEvent,
    Broadcast,
    Community,
    Message,
    MessageKind,
    Role,
    Volunteer,
    VolunteerStatus,
)
from service.redis_conn import free_port
from service.sending.queue import queue_message
from tests.conftest import ACCOUNT_SID, COMMUNITY_NUMBER, not_none, wait_until
from tests.fakes.twilio_server import FakeTwilio
from tests.test_processes import (
    process_env,
    procfile,
    run_release,
    running,
    signed_post,
    wait_for,
)

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CAROL = "+12025550113"


@dataclass
class Browser:
    port: int
    cookie: str = ""
    history: list[int] = field(default_factory=list)

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, dict[str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        connection.close()
        self.history.append(response.status)
        return response.status, text, dict(response.getheaders())

    def token(self) -> str:
        _status, page, _headers = self.request("GET", "/console/login")
        found = CSRF.search(page)
        assert found
        return found.group(1)

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        return self.request("POST", path, {**form, "csrf_token": self.token()})

    def login(self, email: str) -> None:
        status, _page, _headers = self.post(
            "/console/login", {"email": email, "password": PASSWORD}
        )
        assert status == 302, status


@contextmanager
def deployment(settings: Settings) -> Iterator[int]:
    lines = procfile()
    port = free_port()
    env = process_env(settings, port)
    run_release(lines, env)
    with running(lines["web"], env) as web, running(lines["worker"], env):
        wait_for(f"http://127.0.0.1:{port}/healthz", web)
        yield port


@pytest.fixture
def seeded(session_factory: sessionmaker[Session], community: Community) -> Community:
    with unit_of_work(session_factory) as session:
        home = session.get_one(Community, community.id)
        home.two_person_broadcasts = True
        for n in range(8):
            session.add(
                Volunteer(
                    community_id=home.id,
                    phone=CAROL if n == 0 else f"+1202555{n + 200:04d}",
                    name="Carol Diaz" if n == 0 else f"Person {n}",
                    status=VolunteerStatus.ACTIVE,
                    language="en",
                    consent_at=clock.now(),
                    consent_source="test",
                    sms_consent_at=clock.now(),
                )
            )
        for email, role in (
            ("viewer@example.org", Role.VIEWER),
            ("coord@example.org", Role.COORDINATOR),
            ("second@example.org", Role.COORDINATOR),
        ):
            create_coordinator(
                session,
                community=home,
                email=email,
                password=PASSWORD,
                role=role,
                verified=email == "second@example.org",
            )
    return community


def count(session_factory: sessionmaker[Session], query: object) -> int:
    with session_factory() as session:
        return int(session.scalar(query) or 0)  # type: ignore[call-overload]


def test_finding_2_with_the_real_processes(
    settings: Settings,
    seeded: Community,
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
) -> None:
    with deployment(settings) as port:
        viewer = Browser(port)
        viewer.login("viewer@example.org")
        for q in ("2025550113", "+12025550113", "(202) 555-0113", "2025550"):
            status, page, _ = viewer.request("GET", f"/console/volunteers?q={quote(q)}")
            assert status == 200 and "Carol Diaz" not in page, q
        assert "Carol Diaz" in viewer.request("GET", "/console/volunteers?q=carol")[1]

        coordinator = Browser(port)
        coordinator.login("coord@example.org")
        statuses = [
            coordinator.request("GET", f"/console/volunteers?q=20255501{n % 100:02d}")[0]
            for n in range(31)
        ]
        assert statuses == [200] * 30 + [429]
        searched = (
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "searched by number")
        )
        assert count(session_factory, searched) == 30

        form = {"name": "Someone", "phone": CAROL, "language": "en", "consent": "on"}
        status, page, _ = coordinator.post("/console/volunteers/new", form)
        assert status == 400 and "Carol Diaz" in page  # numbers visible: the hint names her
        with unit_of_work(session_factory) as session:
            session.get_one(Community, seeded.id).protect_numbers = True
        status, page, _ = coordinator.post("/console/volunteers/new", form)
        assert status == 400 and "already belongs" in page and "Carol" not in page


def test_finding_3_with_the_real_processes(
    settings: Settings,
    seeded: Community,
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
) -> None:
    with deployment(settings) as port:
        requester = Browser(port)
        requester.login("coord@example.org")
        status, _page, headers = requester.post(
            "/console/broadcasts",
            {
                "segment": "language",
                "language": "en",
                "text": "Meet at the hall",
                "request_key": "k" * 24,
            },
        )
        assert status == 302
        broadcast_id = int(headers["Location"].rstrip("/").rsplit("/", 1)[1])
        with session_factory() as session:
            held = session.get_one(Broadcast, broadcast_id)
            assert held.status == "awaiting_approval" and held.recipients == 8
        # Its own approval is refused, and a viewer decides nothing.
        assert requester.post(f"/console/broadcasts/{broadcast_id}/approve", {})[0] == 403
        viewer = Browser(port)
        viewer.login("viewer@example.org")
        assert viewer.post(f"/console/broadcasts/{broadcast_id}/approve", {})[0] == 403
        # A text queued after the held broadcast reaches Twilio: the worker's pump has run
        # since, and the held broadcast did not leave with it.
        with unit_of_work(session_factory) as session:
            someone = session.scalars(select(Volunteer).where(Volunteer.phone == CAROL)).one()
            queue_message(
                session,
                volunteer=someone,
                body="Pump check",
                kind=MessageKind.DIRECT,
                idempotency_key="pump-check",
            )
        wait_until(
            lambda: any("Pump check" in m.body for m in fake_twilio.messages),
            "the worker sent the call-out",
            interval=0.2,
        )
        assert not any("Meet at the hall" in m.body for m in fake_twilio.messages)
        sent = select(func.count()).select_from(Message).where(Message.broadcast_id == broadcast_id)
        assert count(session_factory, sent) == 0

        approver = Browser(port)
        approver.login("second@example.org")
        assert approver.post(f"/console/broadcasts/{broadcast_id}/approve", {})[0] == 302
        wait_until(
            lambda: sum("Meet at the hall" in m.body for m in fake_twilio.messages) >= 8,
            "the worker sent the broadcast to all eight",
            interval=0.2,
        )
        assert sum("Meet at the hall" in m.body for m in fake_twilio.messages) == 8


def _inbound_form(sid: str, sender: str, body: str) -> dict[str, str]:
    """The parameters Twilio posts for an SMS (enough of them for the webhook's shape check)."""
    return {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": COMMUNITY_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


def _post(port: int, form: dict[str, str], token: str) -> int:
    try:
        return signed_post(port, "/twilio/inbound", form, token)[0]
    except urllib.error.HTTPError as refused:
        return refused.code


def test_finding_1_with_the_real_processes(
    settings: Settings,
    seeded: Community,
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
) -> None:
    """A captured START, replayed after the volunteer texted STOP, field-shifted so that the
    same signature validates (``NumMedia`` dropped, ``NumMedia0`` appended to the value signed
    before it), is refused,
    and the exact replay is answered once: the volunteer stays opted out."""
    token = settings.twilio_auth_token or ""
    start_sid, stop_sid = "SM" + "a" * 32, "SM" + "b" * 32
    captured = _inbound_form(start_sid, CAROL, "START")
    # Twilio signs the sorted names and values joined with no separator: drop NumMedia and
    # append "NumMedia0" to the value before it, and the signed string is the same
    before = max(name for name in captured if name < "NumMedia")
    shifted = {k: v for k, v in captured.items() if k != "NumMedia"}
    shifted[before] = captured[before] + "NumMedia0"
    validator = RequestValidator(token)
    url = "https://handsup.example.org/twilio/inbound"
    assert validator.compute_signature(url, shifted) == validator.compute_signature(url, captured)
    with deployment(settings) as port:
        assert _post(port, captured, token) == 200
        assert _post(port, _inbound_form(stop_sid, CAROL, "STOP"), token) == 200
        with session_factory() as session:
            carol = session.scalars(select(Volunteer).where(Volunteer.phone == CAROL)).one()
            assert carol.status == VolunteerStatus.OPTED_OUT

        assert _post(port, shifted, token) == 400
        assert _post(port, captured, token) == 200  # the same SID: the stored answer, again

        with session_factory() as session:
            carol = session.scalars(select(Volunteer).where(Volunteer.phone == CAROL)).one()
            assert carol.status == VolunteerStatus.OPTED_OUT
            stored = session.scalars(
                select(Message.twilio_sid).where(Message.from_address == CAROL)
            ).all()
        assert sorted(not_none(stored)) == [start_sid, stop_sid]
