"""The properties of SECURITY.md, one test (or a few) per red-team finding of issue 16.

Each test names the finding it holds. The route-walking test (``test_console_routes.py``)
holds the general form of finding 9 across every route.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.app import create_app
from service.config import ConfigError, Settings
from service.db import unit_of_work
from service.models import (
    Assignment,
    AuditEvent,
    Broadcast,
    Community,
    Coordinator,
    Direction,
    Membership,
    Message,
    MessageStatus,
    Role,
    Volunteer,
    VolunteerStatus,
)
from service.rosters.shifts import add_shift, claim
from service.sending.broadcasts import approval_threshold
from service.volunteers.import_export import MAX_SKILL_LENGTH, MAX_SKILLS
from service.web.console.ratelimit import (
    ACCOUNT_BACKSTOP,
    NUMBER_SEARCH_LIMIT,
    PAIR,
    TOTP_CODES,
    LoginLimiter,
)
from tests.conftest import COMMUNITY_NUMBER, WHATSAPP_NUMBER, SmsHelper
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
    for path in ("/console/messages?before=2147483648", "/console/messages?before=9" + "9" * 30):
        assert console.get(path).status_code == 400, path
    # the inbox pages by number: an absurd page is the first page, never an error
    assert console.get("/console/inbox?page=9" + "9" * 30).status_code == 200
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


# ----- finding 10: headers, secrets and exposure -------------------------------------------
def test_finding_10_security_headers_on_every_page(
    console: ConsoleClient,  # noqa: F811
    client: FlaskClient,
) -> None:
    for response in (console.get("/console/volunteers"), client.get("/console/login")):
        headers = response.headers
        policy = headers["Content-Security-Policy"]
        assert (
            "script-src 'self'" in policy
            and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        )
        assert "frame-ancestors 'none'" in policy
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Strict-Transport-Security"].startswith("max-age=")  # the URL is https


def test_finding_10_no_hsts_when_the_public_url_is_not_https(settings: Settings) -> None:
    app = create_app(settings.replace(public_base_url="http://localhost:5000"))
    response = app.test_client().get("/console/login")
    assert "Strict-Transport-Security" not in response.headers
    assert "Content-Security-Policy" in response.headers


def test_finding_10_templates_carry_no_inline_script() -> None:
    """The policy forbids inline script; the templates must not need it."""
    templates = Path(__file__).resolve().parents[2] / "service" / "templates"
    for template in templates.rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, (template.name, tag)
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert "javascript:" not in text, template.name


def test_finding_10_pages_with_personal_data_are_not_stored(
    console: ConsoleClient,  # noqa: F811
    session_factory: sessionmaker[Session],
    community: Community,
) -> None:
    volunteer_id = add_volunteer(session_factory, community, "Ana Lopez", "+12025550123")
    for path in (
        "/console/volunteers",
        f"/console/volunteers/{volunteer_id}",
        "/console/inbox",
        "/console/messages",
        "/console/volunteers/export.csv",
        "/console/",
    ):
        response = console.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    static = console.get("/static/console.css")
    assert static.headers.get("Cache-Control") != "no-store"


@pytest.mark.parametrize("secret", ["short", "x" * 31])
def test_finding_10_production_refuses_a_short_secret_key(secret: str) -> None:
    environ = {
        "HANDSUP_ENV": "production",
        "DATABASE_URL": "postgresql://u@h/db",
        "REDIS_URL": "redis://h:6379/0",
        "SECRET_KEY": secret,
    }
    with pytest.raises(ConfigError, match="SECRET_KEY must be at least 32 bytes"):
        Settings.from_env(environ)
    assert Settings.from_env({**environ, "SECRET_KEY": "x" * 32}).secret_key == "x" * 32


def test_finding_10_the_csv_importer_caps_skills_as_the_form_does(
    owner_console: ConsoleClient,  # noqa: F811
    db: Session,
) -> None:
    many = ";".join(f"skill{n}" for n in range(MAX_SKILLS + 1))
    long_one = "s" * (MAX_SKILL_LENGTH + 1)
    csv_text = (
        "name,phone,skills\n"
        f"Many Skills,+12025550131,{many}\n"
        f"Long Skill,+12025550132,{long_one}\n"
        "Fine,+12025550133,driver;cook\n"
    )
    response = owner_console.post(
        "/console/volunteers/import",
        {"file": (io.BytesIO(csv_text.encode()), "v.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    db.expire_all()
    stored = {v.name: v.skills for v in db.scalars(select(Volunteer))}
    assert stored == {"Fine": ["cook", "driver"]}
    page = response.get_data(as_text=True)
    assert f"at most {MAX_SKILLS} skills" in page
    assert f"at most {MAX_SKILL_LENGTH} characters" in page


def test_finding_10_a_text_from_a_service_number_never_creates_a_volunteer(
    sms: SmsHelper,
    db: Session,
    other_community: Community,  # noqa: F811
) -> None:
    for sender in (COMMUNITY_NUMBER, WHATSAPP_NUMBER, "+12025550111"):  # ours, ours, theirs
        assert sms.send(sender, "JOIN") == []
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Volunteer)) == 0
    stored = db.scalars(select(Message).where(Message.direction == Direction.INBOUND)).all()
    assert sorted(m.from_address for m in stored) == sorted(
        [COMMUNITY_NUMBER, WHATSAPP_NUMBER, "+12025550111"]
    )
    assert all(m.status == MessageStatus.PROCESSED and m.volunteer_id is None for m in stored)
    assert sms.send("+12025550123", "JOIN")  # a person still gets an answer


# ----- finding 2: masked numbers are not recovered through search --------------------------
CAROL = "+12025550113"


@pytest.fixture
def carol(session_factory: sessionmaker[Session], community: Community) -> int:
    return add_volunteer(session_factory, community, "Carol Diaz", CAROL)


def test_finding_2_a_viewer_cannot_confirm_a_guessed_number(
    viewer_console: ConsoleClient,  # noqa: F811
    carol: int,
) -> None:
    """The red team's walk: 202XXX0113 for every XXX; the masked middle must stay hidden."""
    for middle in ("554", "555", "556"):
        for q in (f"202{middle}0113", f"+1202{middle}0113", f"(202) {middle}-0113"):
            page = viewer_console.text(f"/console/volunteers?q={quote(q)}")
            assert "Carol Diaz" not in page, q
    assert "Carol Diaz" in viewer_console.text("/console/volunteers?q=carol")
    assert "Carol Diaz" in viewer_console.text("/console/volunteers?q=0113")  # the mask shows it


def test_finding_2_number_search_is_audited_and_rate_limited(
    console: ConsoleClient,  # noqa: F811
    carol: int,
    db: Session,
) -> None:
    assert "Carol Diaz" in console.text(f"/console/volunteers?q={quote(CAROL)}")
    db.expire_all()
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "searched by number")).all()
    assert len(events) == 1
    assert "0113" not in str(events[0].detail)  # the digits searched are not kept
    assert console.get("/console/volunteers?q=ana").status_code == 200  # names: not counted
    for _ in range(NUMBER_SEARCH_LIMIT.count - 1):
        assert console.get("/console/volunteers?q=2025550").status_code == 200
    refused = console.get("/console/volunteers?q=2025550")
    assert refused.status_code == 429
    assert "Carol Diaz" not in refused.get_data(as_text=True)


def test_finding_2_the_duplicate_hint_names_no_one_to_those_who_may_not_see_numbers(
    console: ConsoleClient,  # noqa: F811
    carol: int,
    session_factory: sessionmaker[Session],
    community: Community,
) -> None:
    form = {"name": "Someone", "phone": CAROL, "language": "en", "consent": "on"}
    shown = console.post("/console/volunteers/new", form)
    assert shown.status_code == 400 and "Carol Diaz" in shown.get_data(as_text=True)
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).protect_numbers = True
    hidden = console.post("/console/volunteers/new", form)
    assert hidden.status_code == 400
    page = hidden.get_data(as_text=True)
    assert "already belongs" in page
    assert "Carol" not in page and f"/console/volunteers/{carol}" not in page


# ----- findings 5, 6, 7: two-factor guesses, sessions, lockout ------------------------------
def _enrol(browser: ConsoleClient, redis: Redis) -> str:
    page = browser.text("/console/account/two-factor")
    found = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page)
    assert found
    secret = found.group(1)
    response = browser.post("/console/account/two-factor", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    return secret


def test_finding_5_code_guesses_are_counted_per_account_across_sign_ins(
    console: ConsoleClient,  # noqa: F811
    console_for: Callable[[], ConsoleClient],  # noqa: F811
    redis: Redis,
) -> None:
    secret = _enrol(console, redis)
    guesses = 0
    for round_ in range(3):  # the right password each time, from a new address each time
        browser = console_for()
        assert browser.login("coord@example.org", ip=f"198.51.100.{round_}").status_code == 302
        for _ in range(4):
            response = browser.post(
                "/console/login/code",
                {"code": "000000"},
                environ_base={"REMOTE_ADDR": f"198.51.100.{round_}"},
            )
            if response.status_code == 401:
                guesses += 1
            else:
                assert response.status_code == 429
    assert guesses == TOTP_CODES.count
    late = console_for()
    assert late.login("coord@example.org", ip="198.51.100.77").status_code == 302
    right = late.post("/console/login/code", {"code": pyotp.TOTP(secret).now()})
    assert right.status_code == 429  # even the right code waits out the window


def _cookie(browser: ConsoleClient) -> str:
    cookie = browser.client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_finding_6_a_cookie_saved_before_logout_no_longer_works(
    console: ConsoleClient,  # noqa: F811
    console_for: Callable[[], ConsoleClient],  # noqa: F811
) -> None:
    saved = _cookie(console)
    assert console.get("/console/").status_code == 200
    assert console.post("/console/logout", {}).status_code == 302
    replay = console_for()
    replay.client.set_cookie("session", saved)
    response = replay.get("/console/")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_finding_6_enrolling_two_factor_ends_other_sessions_and_keeps_the_secret_out_of_the_cookie(
    app: Flask,
    console: ConsoleClient,  # noqa: F811
    console_for: Callable[[], ConsoleClient],  # noqa: F811
    redis: Redis,
) -> None:
    other = console_for()
    assert other.login("coord@example.org").status_code == 302
    page = console.text("/console/account/two-factor")
    found = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page)
    assert found
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    contents = serializer.loads(_cookie(console))
    assert found.group(1) not in str(contents)
    response = console.post(
        "/console/account/two-factor", {"code": pyotp.TOTP(found.group(1)).now()}
    )
    assert response.status_code == 302
    assert console.get("/console/").status_code == 200  # the enrolling session stays
    assert other.get("/console/").status_code == 302  # the other one signed without 2FA: out


def test_finding_7_a_strangers_wrong_passwords_do_not_lock_the_owner_out(
    owner_console: ConsoleClient,  # noqa: F811
    console_for: Callable[[], ConsoleClient],  # noqa: F811
) -> None:
    for _ in range(PAIR.count + 3):
        console_for().login("owner@example.org", "wrong guess", ip="203.0.113.66")
    assert console_for().login("owner@example.org", ip="203.0.113.66").status_code == 429
    assert console_for().login("owner@example.org", ip="198.51.100.9").status_code == 302


def test_finding_7_a_slower_backstop_per_account_caps_spread_out_guessing(
    owner_console: ConsoleClient,  # noqa: F811
    console_for: Callable[[], ConsoleClient],  # noqa: F811
    redis: Redis,
) -> None:
    limiter = LoginLimiter(redis)
    allowed = sum(
        limiter.attempt("owner@example.org", f"192.0.2.{n // PAIR.count}") is None
        for n in range(ACCOUNT_BACKSTOP.count + 10)
    )
    assert allowed == ACCOUNT_BACKSTOP.count
    assert console_for().login("owner@example.org", ip="198.51.100.10").status_code == 429


def test_finding_7_concurrent_attempts_get_no_more_checks_than_the_limit(redis: Redis) -> None:
    limiter = LoginLimiter(redis)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(
            pool.map(lambda _: limiter.attempt("a@example.org", "203.0.113.1"), range(40))
        )
    assert sum(wait is None for wait in results) == PAIR.count


# ----- finding 8: adding a coordinator is an invitation the invitee accepts ----------------
def _invite(owner: ConsoleClient, email: str, role: str = "coordinator") -> tuple[str, str]:
    """(the owner's answer with the email and link blanked, the invitation link's path)."""
    response = owner.post("/console/settings/coordinators", {"email": email, "role": role})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    found = re.search(r"<code>(https?://[^<]+)</code>", page)
    assert found
    link = found.group(1)
    answer = page.replace(link, "LINK").replace(email, "EMAIL")
    answer = re.sub(r'name="csrf_token" value="[^"]+"', "", answer)
    return answer, "/" + link.split("/", 3)[3].replace("&amp;", "&")


def test_finding_8_an_existing_account_is_not_attached_and_the_answer_is_the_same(
    owner_console: ConsoleClient,  # noqa: F811
    make_coordinator: MakeCoordinator,  # noqa: F811
    other_community: Community,  # noqa: F811
    community: Community,
    console_for: Callable[[], ConsoleClient],  # noqa: F811
    db: Session,
) -> None:
    elsewhere = make_coordinator(other_community, "owner@beta.org", Role.OWNER)
    known, link = _invite(owner_console, "owner@beta.org")
    unknown, _ = _invite(owner_console, "nobody@beta.org")
    assert known == unknown  # nothing learnt about which emails have accounts
    db.expire_all()
    assert (
        db.scalar(
            select(Membership).where(
                Membership.coordinator_id == elsewhere.id, Membership.community_id == community.id
            )
        )
        is None
    )
    # The invitee accepts while signed in as that email.
    invitee = console_for()
    assert invitee.login("owner@beta.org").status_code == 302
    page = invitee.text(link)
    assert "Accept" in page
    assert (
        invitee.post(
            "/console/invitation", {"token": link.split("token=")[1], "action": "accept"}
        ).status_code
        == 302
    )
    db.expire_all()
    joined = db.scalar(
        select(Membership).where(
            Membership.coordinator_id == elsewhere.id, Membership.community_id == community.id
        )
    )
    assert joined is not None and joined.role == Role.COORDINATOR
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.community_id == community.id)
    ).all()
    assert "invited coordinator" in actions and "accepted invitation" in actions
    assert invitee.get(link).status_code == 404  # a link works once


def _link_page(client: ConsoleClient, link: str, email: str) -> str:
    """The invitation page a link opens, with what differs by design (token, email, CSRF)."""
    page = client.text(link).replace(link.split("token=")[1], "TOKEN").replace(email, "EMAIL")
    return re.sub(r'name="csrf_token" value="[^"]+"', "", page)


def test_finding_8_the_link_page_does_not_tell_whether_the_email_has_an_account(
    owner_console: ConsoleClient,  # noqa: F811
    make_coordinator: MakeCoordinator,  # noqa: F811
    other_community: Community,  # noqa: F811
    console_for: Callable[[], ConsoleClient],  # noqa: F811
    db: Session,
) -> None:
    make_coordinator(other_community, "owner@beta.org", Role.OWNER)
    _known, known_link = _invite(owner_console, "owner@beta.org")
    _unknown, unknown_link = _invite(owner_console, "nobody@beta.org")
    visitor = console_for()  # whoever holds a link, signed in as no one
    assert _link_page(visitor, known_link, "owner@beta.org") == _link_page(
        visitor, unknown_link, "nobody@beta.org"
    )
    # the one form signs the existing account in (its own password) ...
    wrong = visitor.post(
        "/console/invitation",
        {"token": known_link.split("token=")[1], "action": "password", "password": "x" * 12},
    )
    assert wrong.status_code == 401
    db.expire_all()
    assert (
        db.scalar(
            select(func.count())
            .select_from(Coordinator)
            .where(Coordinator.email == "owner@beta.org")
        )
        == 1
    )  # no second account for a known email


def test_finding_8_someone_else_signed_in_cannot_accept(
    owner_console: ConsoleClient,  # noqa: F811
    console: ConsoleClient,  # noqa: F811
    db: Session,
) -> None:
    _answer, link = _invite(owner_console, "invitee@example.org")
    token = link.split("token=")[1]
    refused = console.post("/console/invitation", {"token": token, "action": "accept"})
    assert refused.status_code == 403
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Membership)) == 2  # owner, coordinator


def test_finding_8_a_new_coordinator_creates_their_own_account_unverified(
    owner_console: ConsoleClient,  # noqa: F811
    console_for: Callable[[], ConsoleClient],  # noqa: F811
    db: Session,
) -> None:
    _answer, link = _invite(owner_console, "New@Example.org", "viewer")
    newcomer = console_for()
    assert "otherwise choose one" in newcomer.text(link)
    token = link.split("token=")[1]
    created = newcomer.post(
        "/console/invitation",
        {"token": token, "action": "password", "password": "a long password"},
    )
    assert created.status_code == 302
    assert newcomer.get("/console/").status_code == 200  # signed in
    db.expire_all()
    account = db.scalars(select(Coordinator).where(Coordinator.email == "new@example.org")).one()
    owner = db.scalars(select(Coordinator).where(Coordinator.email == "owner@example.org")).one()
    assert account.created_by_id == owner.id and account.email_verified_at is None
    actions = db.scalars(select(AuditEvent.action)).all()
    assert "created account" in actions


# ----- finding 3: the two-person rule holds every large broadcast, with a second person ------
def _people(session_factory: sessionmaker[Session], community: Community, count: int) -> None:
    with unit_of_work(session_factory) as session:
        for n in range(count):
            session.add(
                Volunteer(
                    community_id=community.id,
                    phone=f"+1202555{n:04d}",
                    name=f"Person {n}",
                    status=VolunteerStatus.ACTIVE,
                    language="en",
                    skills=["driver"] if n < 3 else [],
                    consent_at=clock.now(),
                    consent_source="test",
                    sms_consent_at=clock.now(),
                )
            )


def _two_person(session_factory: sessionmaker[Session], community: Community) -> None:
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).two_person_broadcasts = True


def _send(browser: ConsoleClient, **fields: str) -> int:
    form = {"text": "Hello", "request_key": secrets.token_urlsafe(24), **fields}
    response = browser.post("/console/broadcasts", form)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    broadcast_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    return broadcast_id


def _status(db: Session, broadcast_id: int) -> str:
    db.expire_all()
    return str(db.get_one(Broadcast, broadcast_id).status)


def test_finding_3_any_segment_above_the_threshold_is_held(
    console: ConsoleClient,  # noqa: F811
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
) -> None:
    _people(session_factory, community, 12)  # default threshold: 12 // 4 = 3
    _two_person(session_factory, community)
    assert _status(db, _send(console, segment="language", language="en")) == "awaiting_approval"
    assert _status(db, _send(console, segment="everyone")) == "awaiting_approval"
    assert _status(db, _send(console, segment="skill", skill="driver")) == "queued"  # 3: at it
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).two_person_threshold = 2
    assert _status(db, _send(console, segment="skill", skill="driver")) == "awaiting_approval"


def test_finding_3_the_default_threshold_is_a_quarter_of_the_active_or_50(
    session_factory: sessionmaker[Session], community: Community, db: Session
) -> None:
    _people(session_factory, community, 8)
    assert approval_threshold(db, db.get_one(Community, community.id)) == 2
    _people_more = [
        Volunteer(
            community_id=community.id,
            phone=f"+1303555{n:04d}",
            status=VolunteerStatus.ACTIVE,
        )
        for n in range(400)
    ]
    db.add_all(_people_more)
    db.commit()
    assert approval_threshold(db, db.get_one(Community, community.id)) == 50


def test_finding_3_the_approver_is_another_verified_person_not_made_by_the_requester(
    console: ConsoleClient,  # noqa: F811
    owner_console: ConsoleClient,  # noqa: F811
    console_for: Callable[[], ConsoleClient],  # noqa: F811
    make_coordinator: MakeCoordinator,  # noqa: F811
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
) -> None:
    _people(session_factory, community, 8)
    _two_person(session_factory, community)
    held = _send(owner_console, segment="language", language="en")
    # The owner invites a second mailbox of their own and approves through it.
    _answer, link = _invite(owner_console, "owner+2@example.org", "coordinator")
    sock = console_for()
    token = link.split("token=")[1]
    made = sock.post(
        "/console/invitation", {"token": token, "action": "create", "password": "a long password"}
    )
    assert made.status_code == 302
    with unit_of_work(session_factory) as session:  # even if the operator verified it
        for account in session.scalars(select(Coordinator)):
            account.email_verified_at = clock.now()
    sock.post(f"/console/broadcasts/{held}/approve", {})
    assert _status(db, held) == "awaiting_approval"  # owner+2@ is owner@, and made by them
    # An account of another person, but whose email nobody verified.
    with unit_of_work(session_factory) as session:
        session.scalars(
            select(Coordinator).where(Coordinator.email == "coord@example.org")
        ).one().email_verified_at = None
    console.post(f"/console/broadcasts/{held}/approve", {})
    assert _status(db, held) == "awaiting_approval"
    # A verified second person, created by the operator: approved.
    second = make_coordinator(community, "second@example.org", Role.COORDINATOR)
    with unit_of_work(session_factory) as session:
        session.get_one(Coordinator, second.id).email_verified_at = clock.now()
    approver = console_for()
    assert approver.login("second@example.org").status_code == 302
    approver.post(f"/console/broadcasts/{held}/approve", {})
    assert _status(db, held) == "queued"
