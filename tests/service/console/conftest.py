"""Console fixtures: coordinators of the test community (and of another one) and a
``ConsoleClient`` that signs in and posts forms with their CSRF token, like a browser."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from service.communities.accounts import create_coordinator
from service.communities.registry import create_community
from service.db import unit_of_work
from service.models import Community, Coordinator, Role

PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class ConsoleClient:
    """A browser-like client: ``login``, ``get``, and ``post`` that fills in the CSRF token."""

    client: FlaskClient
    email: str = ""
    last: TestResponse | None = field(default=None, repr=False)

    def csrf_token(self) -> str:
        page = self.client.get("/console/login")
        found = CSRF_INPUT.search(page.get_data(as_text=True))
        assert found, "the login page carries a CSRF token"
        return found.group(1)

    def login(self, email: str, password: str = PASSWORD, ip: str = "203.0.113.9") -> TestResponse:
        self.email = email
        return self.post(
            "/console/login",
            {"email": email, "password": password},
            environ_base={"REMOTE_ADDR": ip},
        )

    def get(self, path: str, **kwargs: object) -> TestResponse:
        self.last = self.client.get(path, **kwargs)
        return self.last

    def post(
        self,
        path: str,
        data: Mapping[str, object] | None = None,
        *,
        csrf: bool = True,
        **kwargs: object,
    ) -> TestResponse:
        form = dict(data or {})
        if csrf and "csrf_token" not in form:
            form["csrf_token"] = self.csrf_token()
        self.last = self.client.post(path, data=form, **kwargs)
        return self.last

    def text(self, path: str) -> str:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response.get_data(as_text=True)


MakeCoordinator = Callable[..., Coordinator]


@pytest.fixture
def make_coordinator(session_factory: sessionmaker[Session]) -> MakeCoordinator:
    def make(
        community: Community,
        email: str = "coord@example.org",
        role: Role = Role.COORDINATOR,
        password: str = PASSWORD,
    ) -> Coordinator:
        with unit_of_work(session_factory) as session:
            target = session.get_one(Community, community.id)
            return create_coordinator(
                session, community=target, email=email, password=password, role=role
            )

    return make


@pytest.fixture
def other_community(session_factory: sessionmaker[Session], community: Community) -> Community:
    with unit_of_work(session_factory) as session:
        return create_community(
            session,
            name="Hillside Pantry",
            slug="hillside",
            number="+12025550111",
            country="US",
            timezone="America/Chicago",
        )


@pytest.fixture
def console_for(app: Flask) -> Callable[[], ConsoleClient]:
    """A fresh, signed-out browser each call."""
    return lambda: ConsoleClient(app.test_client())


def _signed_in(
    console_for: Callable[[], ConsoleClient],
    make_coordinator: MakeCoordinator,
    community: Community,
    email: str,
    role: Role,
) -> ConsoleClient:
    make_coordinator(community, email, role)
    browser = console_for()
    assert browser.login(email).status_code == 302
    return browser


@pytest.fixture
def console(
    console_for: Callable[[], ConsoleClient],
    make_coordinator: MakeCoordinator,
    community: Community,
) -> ConsoleClient:
    """Signed in as a coordinator of the test community."""
    return _signed_in(
        console_for, make_coordinator, community, "coord@example.org", Role.COORDINATOR
    )


@pytest.fixture
def owner_console(
    console_for: Callable[[], ConsoleClient],
    make_coordinator: MakeCoordinator,
    community: Community,
) -> ConsoleClient:
    return _signed_in(console_for, make_coordinator, community, "owner@example.org", Role.OWNER)


@pytest.fixture
def viewer_console(
    console_for: Callable[[], ConsoleClient],
    make_coordinator: MakeCoordinator,
    community: Community,
) -> ConsoleClient:
    return _signed_in(console_for, make_coordinator, community, "viewer@example.org", Role.VIEWER)
