"""Console access: sign-in, cookies, CSRF, throttling, two-factor, roles, session resets."""

from __future__ import annotations

import re
from collections.abc import Callable

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.communities.accounts import reset_two_factor, set_password
from service.config import Settings
from service.models import AuditEvent, Community, Coordinator, Role
from service.web.console import ratelimit
from tests.service.console.conftest import PASSWORD, ConsoleClient, MakeCoordinator

ConsoleFor = Callable[[], ConsoleClient]


def test_sign_in_and_out(
    console_for: ConsoleFor, make_coordinator: MakeCoordinator, community: Community
) -> None:
    make_coordinator(community, "ana@example.org")
    browser = console_for()
    assert browser.get("/console/").status_code == 302  # signed out: to the login page
    assert browser.last is not None
    assert "/console/login" in browser.last.headers["Location"]
    signed_in = browser.login("ANA@example.org ")  # emails are case- and space-insensitive
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"].endswith("/console/")
    assert "Riverside Flood Crew" in browser.text("/console/")
    assert browser.post("/console/logout").status_code == 302
    assert browser.get("/console/").status_code == 302


def test_wrong_password_is_refused_with_one_message(
    console_for: ConsoleFor, make_coordinator: MakeCoordinator, community: Community
) -> None:
    make_coordinator(community, "ana@example.org")
    wrong = console_for().login("ana@example.org", "not the password")
    unknown = console_for().login("nobody@example.org", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    text = "That email and password do not match."
    assert text in wrong.get_data(as_text=True) and text in unknown.get_data(as_text=True)


def test_session_cookie_flags(
    console_for: ConsoleFor, make_coordinator: MakeCoordinator, community: Community, app: Flask
) -> None:
    make_coordinator(community, "ana@example.org")
    response = console_for().login("ana@example.org")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # test/dev: plain http on localhost
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_cookies_are_secure_in_production(settings: Settings) -> None:
    from service.app import create_app
    from service.config import Environment

    app = create_app(settings.replace(env=Environment.PRODUCTION))
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is True
        assert app.config["SESSION_COOKIE_HTTPONLY"] is True
        assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    finally:
        app.extensions["handsup"].engine.dispose()


def test_forms_without_a_csrf_token_are_rejected(console: ConsoleClient) -> None:
    missing = console.post("/console/logout", csrf=False)
    assert missing.status_code == 400
    assert "This form has expired" in missing.get_data(as_text=True)
    forged = console.post("/console/logout", {"csrf_token": "forged"})
    assert forged.status_code == 400
    assert console.get("/console/").status_code == 200  # still signed in: nothing happened
    login = console.client.post("/console/login", data={"email": "x@example.org", "password": "y"})
    assert login.status_code == 400


def test_a_token_from_another_session_is_rejected(
    console: ConsoleClient, console_for: ConsoleFor
) -> None:
    stranger_token = console_for().csrf_token()
    assert console.post("/console/logout", {"csrf_token": stranger_token}).status_code == 400


def test_login_is_throttled_per_account_and_address(
    console_for: ConsoleFor, make_coordinator: MakeCoordinator, community: Community
) -> None:
    make_coordinator(community, "ana@example.org")
    for _attempt in range(ratelimit.PAIR.count):
        browser = console_for()
        assert browser.login("ana@example.org", "guess", ip="198.51.100.1").status_code == 401
    blocked = console_for().login("ana@example.org", PASSWORD, ip="198.51.100.1")
    assert blocked.status_code == 429  # even the right password waits out the window
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in blocked.get_data(as_text=True)


def test_login_is_throttled_per_address(
    console_for: ConsoleFor, make_coordinator: MakeCoordinator, community: Community
) -> None:
    make_coordinator(community, "ana@example.org")
    for attempt in range(ratelimit.IP_LIMIT):
        response = console_for().login(f"user{attempt}@example.org", "guess", ip="192.0.2.7")
        assert response.status_code == 401
    assert console_for().login("ana@example.org", ip="192.0.2.7").status_code == 429
    assert console_for().login("ana@example.org", ip="192.0.2.8").status_code == 302


def test_a_success_clears_the_account_count(
    console_for: ConsoleFor, make_coordinator: MakeCoordinator, community: Community
) -> None:
    make_coordinator(community, "ana@example.org")
    for _ in range(ratelimit.ACCOUNT_LIMIT - 1):
        console_for().login("ana@example.org", "guess")
    assert console_for().login("ana@example.org").status_code == 302
    for _ in range(ratelimit.ACCOUNT_LIMIT - 1):
        assert console_for().login("ana@example.org", "guess").status_code == 401
    assert console_for().login("ana@example.org").status_code == 302


def _enrol(browser: ConsoleClient) -> str:
    page = browser.text("/console/account/two-factor")
    found = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page)
    assert found, "the enrolment page shows the key"
    secret = found.group(1)
    wrong = browser.post("/console/account/two-factor", {"code": "000000"})
    assert wrong.status_code == 400 and "does not match" in wrong.get_data(as_text=True)
    right = browser.post("/console/account/two-factor", {"code": pyotp.TOTP(secret).now()})
    assert right.status_code == 302
    return secret


def test_totp_enrolment_and_sign_in(
    console: ConsoleClient, console_for: ConsoleFor, db: Session
) -> None:
    secret = _enrol(console)
    coordinator = db.scalars(select(Coordinator)).one()
    assert coordinator.totp_secret == secret and coordinator.totp_enabled_at is not None
    assert db.scalars(select(AuditEvent.action)).all() == ["enabled two-factor"]

    browser = console_for()
    step_one = browser.login("coord@example.org")
    assert step_one.headers["Location"].endswith("/console/login/code")
    assert browser.get("/console/").status_code == 302  # a password alone does not sign in
    assert browser.post("/console/login/code", {"code": "123456"}).status_code == 401
    code = pyotp.TOTP(secret).now()
    assert browser.post("/console/login/code", {"code": code}).status_code == 302
    assert browser.get("/console/").status_code == 200

    replay = console_for()
    replay.login("coord@example.org")
    assert replay.post("/console/login/code", {"code": code}).status_code == 401  # used once


def test_totp_codes_are_throttled(console: ConsoleClient, console_for: ConsoleFor) -> None:
    _enrol(console)
    browser = console_for()
    browser.login("coord@example.org")
    for _ in range(ratelimit.TOTP_CODES.count):
        assert browser.post("/console/login/code", {"code": "000000"}).status_code == 401
    assert browser.post("/console/login/code", {"code": "000000"}).status_code == 429


def test_a_community_can_require_two_factor(
    console: ConsoleClient, session_factory: sessionmaker[Session], community: Community
) -> None:
    with session_factory.begin() as session:
        session.get_one(Community, community.id).require_totp = True
    forced = console.get("/console/")
    assert forced.status_code == 302
    assert forced.headers["Location"].endswith("/console/account/two-factor")
    assert "requires two-factor" in console.text("/console/account/two-factor")
    _enrol(console)
    assert console.get("/console/").status_code == 200


def test_password_reset_signs_out_every_session(
    console: ConsoleClient, session_factory: sessionmaker[Session]
) -> None:
    assert console.get("/console/").status_code == 200
    with session_factory.begin() as session:
        coordinator = session.scalars(select(Coordinator)).one()
        set_password(coordinator, "a brand new passphrase")
    assert console.get("/console/").status_code == 302
    assert console.login("coord@example.org").status_code == 401
    assert console.login("coord@example.org", "a brand new passphrase").status_code == 302


def test_reset_two_factor_lets_a_coordinator_enrol_again(
    console: ConsoleClient, console_for: ConsoleFor, session_factory: sessionmaker[Session]
) -> None:
    _enrol(console)
    with session_factory.begin() as session:
        reset_two_factor(session.scalars(select(Coordinator)).one())
    browser = console_for()
    assert browser.login("coord@example.org").headers["Location"].endswith("/console/")


def test_login_is_a_fresh_session(
    console_for: ConsoleFor, make_coordinator: MakeCoordinator, community: Community
) -> None:
    """Session fixation: nothing planted in the cookie before sign-in survives it."""
    make_coordinator(community, "ana@example.org")
    browser = console_for()
    with browser.client.session_transaction() as planted:
        planted["planted"] = "by an attacker"
        planted["community_id"] = 999
    browser.login("ana@example.org")
    with browser.client.session_transaction() as after:
        assert "planted" not in after
        assert after["community_id"] == community.id


def test_next_only_leads_back_into_the_console(
    console_for: ConsoleFor, make_coordinator: MakeCoordinator, community: Community
) -> None:
    make_coordinator(community, "ana@example.org")
    for target, expected in (
        ("/console/account/two-factor", "/console/account/two-factor"),
        ("https://evil.example/phish", "/console/"),
        ("//evil.example/console", "/console/"),
    ):
        browser = console_for()
        response = browser.post(
            "/console/login", {"email": "ana@example.org", "password": PASSWORD, "next": target}
        )
        assert response.headers["Location"].endswith(expected), target


def test_viewers_cannot_change_anything(viewer_console: ConsoleClient) -> None:
    assert viewer_console.get("/console/").status_code == 200
    assert "viewer" in viewer_console.text("/console/")
    assert viewer_console.post("/console/logout").status_code == 302  # their own session: ok


def test_switching_between_communities(
    console_for: ConsoleFor,
    make_coordinator: MakeCoordinator,
    community: Community,
    other_community: Community,
) -> None:
    make_coordinator(community, "ana@example.org", Role.COORDINATOR)
    make_coordinator(other_community, "ana@example.org", Role.VIEWER, password=PASSWORD)
    browser = console_for()
    browser.login("ana@example.org")
    page = browser.text("/console/")
    assert "Hillside Pantry" in page and "Riverside Flood Crew" in page  # the switcher
    assert "ana@example.org · coordinator" in page
    assert browser.post("/console/switch", {"community_id": other_community.id}).status_code == 302
    assert "ana@example.org · viewer" in browser.text("/console/")  # the role there


def test_switching_to_a_community_you_do_not_coordinate_is_404(
    console: ConsoleClient, other_community: Community
) -> None:
    assert console.post("/console/switch", {"community_id": other_community.id}).status_code == 404
    assert console.post("/console/switch", {"community_id": "x"}).status_code == 404


@pytest.mark.parametrize("path", ["/console/login", "/console/login/code"])
def test_public_pages_render_signed_out(console_for: ConsoleFor, path: str) -> None:
    response = console_for().get(path)
    assert response.status_code in (200, 302)


def test_the_address_throttle_sees_the_client_behind_a_proxy(
    settings: Settings, make_coordinator: MakeCoordinator, community: Community
) -> None:
    """With HANDSUP_PROXY_HOPS=1 the throttle counts X-Forwarded-For, not the router."""
    from service.app import create_app

    proxied = create_app(settings.replace(proxy_hops=1))
    try:
        make_coordinator(community, "ana@example.org")
        router = "10.0.0.1"
        for attempt in range(ratelimit.IP_LIMIT):
            browser = ConsoleClient(proxied.test_client())
            response = browser.post(
                "/console/login",
                {"email": f"u{attempt}@example.org", "password": "guess"},
                environ_base={"REMOTE_ADDR": router},
                headers={"X-Forwarded-For": "192.0.2.50"},
            )
            assert response.status_code == 401
        other_client = ConsoleClient(proxied.test_client()).post(
            "/console/login",
            {"email": "ana@example.org", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": router},
            headers={"X-Forwarded-For": "192.0.2.51"},
        )
        assert other_client.status_code == 302  # same router, another client: not blocked
    finally:
        proxied.extensions["handsup"].engine.dispose()


def test_the_navigation_marks_the_current_area(console: ConsoleClient) -> None:
    assert 'aria-current="page">Dashboard<' in console.text("/console/")
    new_shift = console.text("/console/shifts/new")
    assert 'aria-current="page">Shifts<' in new_shift
    assert 'aria-current="page">Dashboard<' not in new_shift
