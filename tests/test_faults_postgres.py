"""The database going away under the Twilio webhooks: 503 + Retry-After, never a 500.

Fast, in process: an unreachable database answers 503 (and logs a warning) on both webhooks, a
real bug is still a 500, and a database lost after the reply was committed still gets the reply.
Slow: PostgreSQL restarted under load. The web process (the Procfile's gunicorn line) answers
503 while the database is down; every request that did not get a 200 is posted again with the
same MessageSid, as Twilio retries, and each inbound text ends up stored exactly once,
processed and answered.

The shared PostgreSQL on 127.0.0.1:5432 is never touched: the test runs a private cluster
(``tests.fakes.postgres_cluster``) and a private Redis, and skips when no PostgreSQL server
binaries are installed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import migrate
from service.app import create_app
from service.communities.registry import create_community
from service.config import Environment, Settings
from service.db import make_engine, make_session_factory, unit_of_work
from service.models import Community, Direction, Message, MessageStatus, Volunteer
from service.redis_conn import free_port
from service.rosters import shifts as rosters
from service.sending import outbox
from service.web import twilio_webhooks
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    COMMUNITY_NUMBER,
    PUBLIC_BASE_URL,
    SmsHelper,
    wait_until,
)
from tests.fakes.postgres_cluster import PrivatePostgres, find_binaries
from tests.fakes.twilio_caller import TwilioCaller, WebhookAnswer
from tests.test_outbound_faults import Proc, RedisServer
from tests.test_processes import process_env, procfile

VOLUNTEERS = 24
SCRIPT = ("SHIFTS", "1", "MY", "HELP")
PACE = 0.05  # seconds between one volunteer's texts
MAX_TEXTS_PER_VOLUNTEER = 400  # a bound on the load, whatever the timing
WARM_UP = 2.0  # seconds of load before the database goes away
OUTAGE = 2.5  # seconds the database stays down
AFTER = 2.0  # seconds of load after it is back and ready
RETRY_ROUNDS = 10


@dataclass
class Sent:
    form: dict[str, str]
    started: float
    answers: list[WebhookAnswer]


def seed(factory: sessionmaker[Session]) -> list[str]:
    phones = [f"+1202555{3000 + i:04d}" for i in range(VOLUNTEERS)]
    now = datetime.now(UTC)
    with unit_of_work(factory) as session:
        community = create_community(
            session,
            name="Riverside Flood Crew",
            slug="riverside",
            number=COMMUNITY_NUMBER,
            whatsapp_number=None,
            country="US",
            timezone="America/New_York",
            help_contact="+12025550142",
        )
        community.quiet_start_minute = community.quiet_end_minute = 0
        session.flush()
        session.add_all(
            Volunteer(
                community_id=community.id,
                phone=phone,
                name=f"V{i}",
                status=VolunteerStatus.ACTIVE,
                consent_at=now,
                consent_source="test",
            )
            for i, phone in enumerate(phones)
        )
        starts = now + timedelta(days=2)
        rosters.add_shift(
            session,
            session.get_one(Community, community.id),
            title="Sandbags",
            place="School gym",
            starts_at=starts,
            ends_at=starts + timedelta(hours=4),
            capacity=5,
        )
    return phones


def readyz(port: int) -> tuple[int, dict[str, object]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"{}")
    except OSError:
        return 0, {}


def outage() -> sa_exc.OperationalError:
    return sa_exc.OperationalError(
        "SELECT 1", {}, Exception("terminating connection due to administrator command")
    )


# -- fast: the webhook's answers to an unreachable database, in process ----------------------


@pytest.fixture
def app_without_database(tmp_path: Path) -> Iterator[Flask]:
    """The app pointed at a PostgreSQL port nobody listens on (connections are refused)."""
    settings = Settings(
        env=Environment.TEST,
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/handsup",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_BASE_URL,
        instance_path=tmp_path / "instance",
    )
    app = create_app(settings)
    yield app
    app.extensions["handsup"].engine.dispose()


def test_webhooks_answer_503_with_retry_after_when_the_database_is_unreachable(
    app_without_database: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    sms = SmsHelper(app_without_database.test_client())
    status_form = {
        "MessageSid": "SM" + "1" * 32,
        "MessageStatus": "delivered",
        "AccountSid": ACCOUNT_SID,
    }
    requests = [
        ("/twilio/inbound", sms.form("+12025550123", "SHIFTS")),
        ("/twilio/status", status_form),
    ]
    with caplog.at_level(logging.WARNING, logger="service.web.unavailable"):
        for path, form in requests:
            signature = sms.sign(path, form)
            response = sms.client.post(path, data=form, headers={"X-Twilio-Signature": signature})
            assert response.status_code == 503, response.get_data(as_text=True)
            assert int(response.headers["Retry-After"]) > 0
            assert "retry" in response.get_data(as_text=True)
    forged = sms.client.post(
        "/twilio/inbound",
        data=sms.form("+12025550123", "MY"),
        headers={"X-Twilio-Signature": "forged"},
    )
    assert forged.status_code == 403  # the signature is checked before the database is needed
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("answered 503" in w and "/twilio/inbound" in w for w in warnings), warnings
    assert any("answered 503" in w and "/twilio/status" in w for w in warnings), warnings
    assert not any("+12025550123" in w for w in warnings)  # no SQL parameters in the log


def test_a_database_bug_is_still_a_500(
    app_without_database: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(twilio_webhooks, "handle_inbound", broken)
    sms = SmsHelper(app_without_database.test_client())
    assert sms.post("/twilio/inbound", sms.form("+12025550123", "HELP")).status == 500


def test_database_lost_after_the_reply_was_committed_still_answers_it(
    sms: SmsHelper, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: object, **kwargs: object) -> int:
        raise outage()

    monkeypatch.setattr(outbox, "enqueue_due", unreachable)
    reply = sms.post("/twilio/inbound", sms.form("+12025550123", "JOIN"))
    assert reply.status == 200 and "What is your name?" in reply.texts[0]


# -- slow: a real PostgreSQL restarted under load --------------------------------------------


@pytest.mark.slow
def test_postgres_restart_mid_load_answers_503_then_stores_every_retry_once(
    tmp_path: Path,
) -> None:
    binaries = find_binaries()
    if isinstance(binaries, str):
        pytest.skip(binaries)
    redis_server = RedisServer(free_port(), tmp_path / "redis.log")
    web: Proc | None = None
    with PrivatePostgres(binaries) as pg:
        engine = make_engine(pg.url)
        try:
            redis_server.start()
            migrate.upgrade(pg.url)
            factory = make_session_factory(engine)
            phones = seed(factory)
            settings = Settings(
                env=Environment.TEST,
                database_url=pg.url,
                redis_url=redis_server.url,
                twilio_account_sid=ACCOUNT_SID,
                twilio_auth_token=AUTH_TOKEN,
                twilio_api_base_url="http://127.0.0.1:9",  # no worker runs: nothing is sent
                public_base_url=PUBLIC_BASE_URL,
                instance_path=tmp_path / "instance",
            )
            port = free_port()
            env = process_env(settings, port)
            env["WEB_CONCURRENCY"] = "2"  # gunicorn's worker count, as a PaaS sets it
            # The outage of the answer in the request: no worker runs here, so the web
            # must not defer texts to one (its 24 clients could reach a process' threshold).
            env["HANDSUP_SURGE_IN_FLIGHT"] = "1000"
            web = Proc(["bash", "-c", f"exec {procfile()['web']}"], env, tmp_path / "web.log")
            wait_until(
                lambda: readyz(port)[0] == 200,
                "the web process is ready",
                timeout=180,
                interval=0.2,
            )
            run_outage_scenario(pg, port, phones, factory, web)
        finally:
            if web is not None:
                web.stop()
            redis_server.stop()
            engine.dispose()


def run_outage_scenario(
    pg: PrivatePostgres,
    port: int,
    phones: list[str],
    factory: sessionmaker[Session],
    web: Proc,
) -> None:
    caller = TwilioCaller(AUTH_TOKEN, PUBLIC_BASE_URL, ACCOUNT_SID)
    sent: list[Sent] = []
    sent_lock = threading.Lock()
    stop_load = threading.Event()
    failures: list[BaseException] = []

    def volunteer(phone: str) -> None:
        try:
            for n in range(MAX_TEXTS_PER_VOLUNTEER):
                if stop_load.is_set():
                    return
                form = caller.form(phone, SCRIPT[n % len(SCRIPT)], COMMUNITY_NUMBER)
                record = Sent(form, time.monotonic(), [])
                record.answers.append(caller.post(port, form))
                with sent_lock:
                    sent.append(record)
                time.sleep(PACE)
        except BaseException as exc:  # surfaced by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=volunteer, args=(p,), daemon=True) for p in phones]
    ready_during_outage: list[tuple[int, dict[str, object]]] = []
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        time.sleep(WARM_UP)
        before = len(sent)
        pg.stop("fast")
        down_at = time.monotonic()
        while time.monotonic() - down_at < OUTAGE:
            ready_during_outage.append(readyz(port))
            time.sleep(0.3)
        during = len(sent) - before
        pg.start()
        wait_until(lambda: readyz(port)[0] == 200, "/readyz recovered", timeout=120, interval=0.2)
        ready_at = time.monotonic()
        time.sleep(AFTER)
    finally:
        stop_load.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not failures, failures
    assert before > 0 and during > 0, (before, during)
    load_seconds = time.monotonic() - started

    # Twilio's retries: every request that did not get a 200, same form, same MessageSid.
    for _ in range(RETRY_ROUNDS):
        pending = [s for s in sent if s.answers[-1].status != 200]
        if not pending:
            break
        for record in pending:
            record.answers.append(caller.post(port, record.form))
        time.sleep(0.5)

    answers = [a for s in sent for a in s.answers]
    by_status = Counter(a.status for a in answers)
    first = Counter(s.answers[0].status for s in sent)
    report = (
        f"{len(sent)} texts in {load_seconds:.1f}s, first answers {dict(first)}, "
        f"all answers {dict(by_status)}"
    )
    print(report)
    assert by_status[500] == 0, report
    assert set(by_status) <= {200, 503}, (
        report,
        [a.error or a.body[:200] for a in answers if a.status not in (200, 503)][:5],
    )
    assert first[503] > 0, f"no 503 seen during the outage: {report}"
    assert all(a.retry_after and int(a.retry_after) > 0 for a in answers if a.status == 503)
    assert all(s.answers[-1].status == 200 for s in sent), report
    assert all(s.answers[-1].texts for s in sent), "a retry was answered without a reply"
    # After the database came back (and /readyz said so), pooled connections were recovered:
    # nothing that started a moment later failed.
    late = [s for s in sent if s.started > ready_at + 0.5]
    assert late, "no load after the database came back"
    assert all(s.answers[0].status == 200 for s in late), Counter(s.answers[0].status for s in late)

    outage_checks = [body.get("checks") for status, body in ready_during_outage if status == 503]
    assert outage_checks, f"/readyz never said 503 during the outage: {ready_during_outage}"
    assert all(isinstance(c, dict) and c.get("database") == "unreachable" for c in outage_checks), (
        outage_checks
    )
    assert "answered 503" in web.output(tail=10**7), "no warning was logged for the 503s"

    sids = [s.form["MessageSid"] for s in sent]
    with factory() as session:
        stored = dict(
            session.execute(
                select(Message.twilio_sid, func.count())
                .where(Message.direction == Direction.INBOUND)
                .group_by(Message.twilio_sid)
            ).all()
        )
        unprocessed = session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.direction == Direction.INBOUND, Message.status != MessageStatus.PROCESSED
            )
        )
    missing = set(sids) - set(stored)
    doubled = {sid: n for sid, n in stored.items() if n != 1}
    assert not missing, f"{len(missing)} inbound text(s) lost"
    assert not doubled, f"stored more than once: {doubled}"
    assert len(stored) == len(sids) == len(set(sids))
    assert unprocessed == 0
    with factory() as session:
        replied = set(
            session.scalars(
                select(Message.reply_to_id).where(
                    Message.direction == Direction.OUTBOUND, Message.kind == "reply"
                )
            )
        )
        inbound_ids = set(
            session.scalars(select(Message.id).where(Message.direction == Direction.INBOUND))
        )
    assert inbound_ids <= replied, f"{len(inbound_ids - replied)} inbound text(s) unanswered"
