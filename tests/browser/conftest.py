"""Browser-test fixtures: the real app served over loopback, Debian's chromium driven by
Playwright, and helpers to sign in, seed accounts, text the service and take screenshots.

The live server (werkzeug's ``make_server`` in a thread, on 127.0.0.1 and a free port) lives for
the session and serves whichever app the current test built: each test gets the usual fresh
database, Redis and fake Twilio from ``tests/conftest.py``, with ``public_base_url`` set to the
server's own URL so webhooks signed against it validate. Chromium is ``/usr/bin/chromium``
(``HANDSUP_CHROMIUM`` overrides); without it the tests skip, unless
``HANDSUP_REQUIRE_BROWSER=1`` (CI), when they fail. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import itertools
import os
import threading
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker
from twilio.request_validator import RequestValidator
from werkzeug.serving import BaseWSGIServer, make_server

from service.communities.accounts import create_coordinator
from service.config import Settings
from service.db import unit_of_work
from service.models import Community, Coordinator, Role
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, COMMUNITY_NUMBER

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("HANDSUP_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("HANDSUP_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "correct horse battery"
PHONE_WIDTH, DESKTOP_WIDTH = 390, 1280
# Every wait ends as soon as the page gets there; the deadline is for a machine busy with other
# work (a login's redirect took over 5 s beside a second test run on two CPUs).
TIMEOUT_MS = 30_000


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install chromium (HANDSUP_CHROMIUM overrides)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


class LiveServer:
    """A threaded WSGI server on loopback that serves the app of the test running now."""

    def __init__(self) -> None:
        self.app: Flask | None = None
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _dispatch(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no app mounted"]
        return self.app(environ, start_response)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    with LiveServer() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, live_server: LiveServer) -> Settings:
    """The suite's test settings, but webhooks are signed against the live server's URL."""
    return settings.replace(public_base_url=live_server.url)


@pytest.fixture
def live(app: Flask, live_server: LiveServer, community: Community) -> Iterator[LiveServer]:
    """The live server serving this test's app (with the test community created)."""
    live_server.app = app
    yield live_server
    live_server.app = None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = browser_unavailable()
    if reason:
        if REQUIRED:
            pytest.fail(f"HANDSUP_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) at desktop width, pointed at the live server."""
    context = browser.new_context(
        base_url=live.url, viewport={"width": DESKTOP_WIDTH, "height": 800}
    )
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


MakeCoordinator = Callable[..., Coordinator]


@pytest.fixture
def make_coordinator(session_factory: sessionmaker[Session]) -> MakeCoordinator:
    def make(community: Community, email: str, role: Role = Role.COORDINATOR) -> Coordinator:
        with unit_of_work(session_factory) as session:
            target = session.get_one(Community, community.id)
            return create_coordinator(
                session, community=target, email=email, password=PASSWORD, role=role
            )

    return make


def login(page: Any, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form and wait for the dashboard."""
    page.goto("/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")


def screenshot(page: Any, name: str, widths: Iterable[int] = (PHONE_WIDTH, DESKTOP_WIDTH)) -> None:
    """Full-page screenshots at each width: ``test-artifacts/<name>-<width>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in widths:
        page.set_viewport_size({"width": width, "height": 844 if width < 600 else 800})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": DESKTOP_WIDTH, "height": 800})


_sids = itertools.count(1)


class LiveSms:
    """Texts the live server the way Twilio does: a form POST signed against its public URL."""

    def __init__(self, base_url: str) -> None:
        self.url = base_url + "/twilio/inbound"
        self.validator = RequestValidator(AUTH_TOKEN)

    def send(self, sender: str, body: str, to: str = COMMUNITY_NUMBER, **extra: str) -> list[str]:
        """Text the service; ``extra`` adds or replaces parameters (media, a location...)."""
        form = {
            "MessageSid": f"SM{next(_sids):032x}",
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            **extra,
        }
        signature = self.validator.compute_signature(self.url, form)
        request = urllib.request.Request(
            self.url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"X-Twilio-Signature": signature},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            raw = response.read().decode()
        return [el.text or "" for el in ET.fromstring(raw).iter("Message")]


@pytest.fixture
def live_sms(live: LiveServer) -> LiveSms:
    return LiveSms(live.url)
