"""Scale-out: two web processes (the Procfile's gunicorn line on two ports) and three
``handsup worker`` processes against one PostgreSQL and one Redis, while 2,000 volunteers text
(SHIFTS, menu numbers, YES to a call-out, MY) split across both web processes and a broadcast
to all of them is queued. Counted at the database and at a fake Twilio in its own process:
zero inbound texts lost or stored twice, one broadcast text per volunteer, no text sent twice,
no shift over capacity.

Needs PostgreSQL (``TEST_DATABASE_URL``; skipped without it). It never touches the suite's
own database or Redis db: it creates and drops its own ``handsup_scaleout`` database on the
same server and uses Redis db 12.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import migrate
from service.communities.registry import create_community
from service.config import Environment, Settings, normalize_database_url
from service.db import make_engine, make_session_factory, unit_of_work
from service.models import (
    Assignment,
    AssignmentStatus,
    CallOut,
    CallOutAsk,
    Community,
    Direction,
    Message,
    MessageStatus,
    OutboxItem,
    Shift,
    Volunteer,
)
from service.redis_conn import connect, free_port
from service.rosters import callouts
from service.rosters import shifts as rosters
from service.sending.broadcasts import queue_broadcast
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, COMMUNITY_NUMBER, PUBLIC_BASE_URL, wait_until
from tests.fakes.twilio_caller import TwilioCaller, WebhookAnswer
from tests.fakes.twilio_server import FakeTwilioProcess
from tests.test_outbound_faults import OPEN_STATES, Proc, start_worker
from tests.test_processes import process_env, procfile

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL"),
        reason="scale-out runs against PostgreSQL (set TEST_DATABASE_URL)",
    ),
]

DATABASE = "handsup_scaleout"
REDIS_DB = 12
VOLUNTEERS = 2000
SIGN_UPS = 300  # volunteers who also reply "1" to the menu, then MY
CALLOUT_NEED = 8
SHIFT_CAPACITY = 3
SHIFTS = 6
TEXT_THREADS = 24
BROADCAST = "Levee check at 7, bring boots"
DRAIN_TIMEOUT = 90


def phone(n: int) -> str:
    return f"+1202555{2000 + n:04d}"


@pytest.fixture
def scaleout_database() -> Iterator[str]:
    """A fresh ``handsup_scaleout`` database on TEST_DATABASE_URL's server, dropped after."""
    test_url = make_url(normalize_database_url(os.environ["TEST_DATABASE_URL"]))
    admin = test_url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )

    def execute(statement: str) -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(statement)

    execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    execute(f"CREATE DATABASE {DATABASE}")
    try:
        yield test_url.set(database=DATABASE).render_as_string(hide_password=False)
    finally:
        execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@pytest.fixture
def scaleout_redis() -> Iterator[str]:
    """Redis db 12 on TEST_REDIS_URL's server (127.0.0.1:6379 without it), flushed around."""
    base = make_url_redis(os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0")
    connection = connect(base)
    try:
        connection.ping()
    except RedisError as exc:
        connection.close()
        pytest.skip(f"no Redis for the scale-out test at {base}: {exc}")
    connection.flushdb()
    try:
        yield base
    finally:
        connection.flushdb()
        connection.close()


def make_url_redis(url: str) -> str:
    """The same server, database ``REDIS_DB``."""
    head, _, tail = url.partition("://")
    server = tail.split("/", 1)[0].split("?", 1)[0]
    return f"{head}://{server}/{REDIS_DB}"


def seed(factory: sessionmaker[Session]) -> tuple[int, list[int], int, list[str]]:
    """The community, its volunteers and shifts, and a call-out; returns their ids and the
    phones the call-out asked."""
    now = datetime.now(UTC)
    with unit_of_work(factory) as session:
        community = create_community(
            session,
            name="Riverside Flood Crew",
            slug="riverside",
            number=COMMUNITY_NUMBER,
            country="US",
            timezone="America/New_York",
            help_contact="+12025550142",
        )
        community.quiet_start_minute = community.quiet_end_minute = 0
        session.flush()
        session.add_all(
            Volunteer(
                community_id=community.id,
                phone=phone(n),
                name=f"V{n}",
                status=VolunteerStatus.ACTIVE,
                consent_at=now,
                consent_source="test",
            )
            for n in range(VOLUNTEERS)
        )
        place = session.get_one(Community, community.id)
        shifts = []
        for n in range(SHIFTS):
            starts = now + timedelta(days=1, hours=n)
            shifts.append(
                rosters.add_shift(
                    session,
                    place,
                    title=f"Sandbags {n + 1}",
                    place="School gym",
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=2),
                    capacity=SHIFT_CAPACITY,
                )
            )
        session.flush()
        callout = callouts.start_callout(session, shifts[-1], place, CALLOUT_NEED, "", now)
        session.flush()
        asked = list(
            session.scalars(
                select(Volunteer.phone)
                .join(CallOutAsk, CallOutAsk.volunteer_id == Volunteer.id)
                .where(CallOutAsk.callout_id == callout.id)
            )
        )
        return community.id, [s.id for s in shifts], callout.id, asked


def test_two_web_processes_three_workers_lose_double_and_overfill_nothing(
    scaleout_database: str, scaleout_redis: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    url = normalize_database_url(scaleout_database)
    migrate.upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    community_id, shift_ids, callout_id, asked = seed(factory)
    assert len(asked) == CALLOUT_NEED * callouts.WAVE_FACTOR
    seeded = time.monotonic()

    procs: list[Proc] = []
    redis = connect(scaleout_redis)
    try:
        with FakeTwilioProcess(ACCOUNT_SID, AUTH_TOKEN) as fake:
            settings = Settings(
                env=Environment.TEST,
                database_url=url,
                redis_url=scaleout_redis,
                twilio_account_sid=ACCOUNT_SID,
                twilio_auth_token=AUTH_TOKEN,
                twilio_api_base_url=fake.url,
                public_base_url=PUBLIC_BASE_URL,
                pacing=False,
                instance_path=tmp_path / "instance",
            )
            ports = [free_port(), free_port()]
            for n, port in enumerate(ports):
                env = process_env(settings, port)
                env["WEB_CONCURRENCY"] = "2"
                # This test counts texts answered in the request: 24 clients on a slow machine
                # can put more than the default 16 in one worker's flight and have some left
                # for the workers (a surge: tests/service/test_deferred_texts.py covers it).
                env["HANDSUP_SURGE_IN_FLIGHT"] = str(TEXT_THREADS + 1)
                command = ["bash", "-c", f"exec {procfile()['web']}"]
                procs.append(Proc(command, env, tmp_path / f"web-{n}.log"))
            workers = [start_worker(settings, tmp_path / f"worker-{n}.log") for n in range(3)]
            procs.extend(workers)

            def logs() -> str:
                return "\n".join(f"--- {p.log.name}:\n{p.output()}" for p in procs)

            def all_up() -> bool:
                for p in procs:
                    assert p.popen.poll() is None, logs()
                return len(Worker.all(connection=redis)) >= 3 and all(
                    web_ready(port) for port in ports
                )

            wait_until(
                all_up, "two web processes and three workers are up", timeout=180, interval=0.2
            )
            up = time.monotonic()

            answers, load_seconds = text_and_broadcast(ports, asked, factory, community_id)
            loaded = time.monotonic()

            def drained() -> bool:
                for p in procs:
                    assert p.popen.poll() is None, logs()
                return outbound_open(factory) == 0 and fake.stats()["messages"] >= sent_rows(
                    factory
                )

            try:
                wait_until(drained, "the outbox drained", timeout=DRAIN_TIMEOUT, interval=0.5)
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {fake.stats()['messages']} sent\n{logs()}") from None
            time.sleep(2)  # a few more pump rounds: nothing may be sent again
            drained_at = time.monotonic()
            fake_messages = fake.messages()
            web_503 = sum(p.output(10**7).count("answered 503") for p in procs[:2])
    finally:
        for p in procs:
            p.stop()
        redis.close()

    print(
        f"seed {seeded - started:.1f}s, start {up - seeded:.1f}s, "
        f"{len(answers)} texts in {load_seconds:.1f}s, drain {drained_at - loaded:.1f}s, "
        f"{len(fake_messages)} sent"
    )
    try:
        check_inbound(factory, answers)
        check_outbound(factory, fake_messages)
        check_capacity(factory, shift_ids, callout_id, answers)
    finally:
        engine.dispose()
    assert web_503 == 0


def web_ready(port: int) -> bool:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def text_and_broadcast(
    ports: list[int], asked: list[str], factory: sessionmaker[Session], community_id: int
) -> tuple[dict[str, tuple[dict[str, str], WebhookAnswer]], float]:
    """Every volunteer texts (in threads, alternating web processes); the broadcast is queued
    once a third of the texts are in. Returns each MessageSid's form and answer."""
    caller = TwilioCaller(AUTH_TOKEN, PUBLIC_BASE_URL, ACCOUNT_SID)
    asked_set = set(asked)
    scripts: list[tuple[str, list[str]]] = []
    for n in range(VOLUNTEERS):
        number = phone(n)
        if number in asked_set:
            scripts.append((number, ["YES", "MY"]))
        elif n % (VOLUNTEERS // SIGN_UPS) == 0:
            scripts.append((number, ["SHIFTS", "1", "MY"]))
        else:
            scripts.append((number, ["SHIFTS"]))
    total = sum(len(texts) for _, texts in scripts)
    answers: dict[str, tuple[dict[str, str], WebhookAnswer]] = {}
    lock = threading.Lock()
    broadcast_queued = threading.Event()
    counter = iter(range(10**9))

    def queue_the_broadcast() -> None:
        with unit_of_work(factory) as session:
            community = session.get_one(Community, community_id)
            assert queue_broadcast(session, community, BROADCAST) == VOLUNTEERS

    def run(index: int) -> None:
        number, texts = scripts[index]
        for text in texts:
            form = caller.form(number, text, COMMUNITY_NUMBER)
            with lock:
                n = next(counter)
            answer = caller.post(ports[n % 2], form, timeout=30)
            with lock:
                answers[form["MessageSid"]] = (form, answer)
                due = len(answers) >= total // 3 and not broadcast_queued.is_set()
                if due:
                    broadcast_queued.set()
            if due:
                queue_the_broadcast()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=TEXT_THREADS) as pool:
        for future in [pool.submit(run, i) for i in range(len(scripts))]:
            future.result(timeout=300)
    assert broadcast_queued.is_set()
    return answers, time.monotonic() - started


def outbound_open(factory: sessionmaker[Session]) -> int:
    now = datetime.now(UTC)
    with factory() as session:
        waiting = session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.direction == Direction.OUTBOUND, Message.status.in_(OPEN_STATES))
        )
        due_items = session.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .where(OutboxItem.done_at.is_(None), OutboxItem.available_at <= now)
        )
    return int(waiting or 0) + int(due_items or 0)


def sent_rows(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.direction == Direction.OUTBOUND, Message.twilio_sid.is_not(None))
            )
            or 0
        )


def check_inbound(
    factory: sessionmaker[Session], answers: dict[str, tuple[dict[str, str], WebhookAnswer]]
) -> None:
    statuses = Counter(answer.status for _, answer in answers.values())
    assert statuses == Counter({200: len(answers)}), statuses
    assert all(answer.texts for _, answer in answers.values()), "a text got no reply"
    with factory() as session:
        stored = dict(
            session.execute(
                select(Message.twilio_sid, func.count())
                .where(Message.direction == Direction.INBOUND)
                .group_by(Message.twilio_sid)
            ).all()
        )
        states = Counter(
            session.scalars(select(Message.status).where(Message.direction == Direction.INBOUND))
        )
    missing = set(answers) - set(stored)
    assert not missing, f"{len(missing)} inbound text(s) lost"
    doubled = {sid: n for sid, n in stored.items() if n != 1}
    assert not doubled, f"stored twice: {doubled}"
    assert set(stored) == set(answers)
    assert states == Counter({MessageStatus.PROCESSED: len(answers)}), states


def check_outbound(factory: sessionmaker[Session], fake_messages: list[dict[str, str]]) -> None:
    broadcast_body = f"Riverside Flood Crew: {BROADCAST}"
    per_text = Counter((m["to"], m["body"]) for m in fake_messages)
    twice = {key: n for key, n in per_text.items() if n > 1}
    assert not twice, f"sent twice: {list(twice.items())[:10]}"
    broadcast_to = Counter(m["to"] for m in fake_messages if m["body"] == broadcast_body)
    everyone = {phone(n) for n in range(VOLUNTEERS)}
    assert set(broadcast_to) == everyone, f"{len(everyone - set(broadcast_to))} never got it"
    assert set(broadcast_to.values()) == {1}
    with factory() as session:
        rows = session.execute(
            select(Message.kind, Message.status, Message.twilio_sid).where(
                Message.direction == Direction.OUTBOUND, Message.kind != "reply"
            )
        ).all()
    assert not [r for r in rows if r.status in OPEN_STATES]
    sids = [r.twilio_sid for r in rows if r.twilio_sid]
    assert len(sids) == len(set(sids))
    assert set(sids) == {m["sid"] for m in fake_messages}
    assert Counter(r.kind for r in rows)["broadcast"] == VOLUNTEERS


def check_capacity(
    factory: sessionmaker[Session],
    shift_ids: list[int],
    callout_id: int,
    answers: dict[str, tuple[dict[str, str], WebhookAnswer]],
) -> None:
    with factory() as session:
        for shift_id in shift_ids:
            shift = session.get_one(Shift, shift_id)
            confirmed = session.scalar(
                select(func.count())
                .select_from(Assignment)
                .where(
                    Assignment.shift_id == shift_id,
                    Assignment.status == AssignmentStatus.CONFIRMED,
                )
            )
            assert confirmed == shift.confirmed_count, (shift_id, confirmed, shift.confirmed_count)
            assert shift.confirmed_count <= shift.capacity, (shift_id, shift.confirmed_count)
        per_volunteer = session.execute(
            select(Assignment.volunteer_id, Assignment.shift_id, func.count())
            .group_by(Assignment.volunteer_id, Assignment.shift_id)
            .having(func.count() > 1)
        ).all()
        assert not per_volunteer, per_volunteer
        callout = session.get_one(CallOut, callout_id)
        assert callout.filled <= callout.need
    callout_wins = sum(
        1
        for form, answer in answers.values()
        if form["Body"] == "YES" and answer.texts[0].startswith("You are in!")
    )
    assert callout_wins == callout.filled
    sign_ups = [a for f, a in answers.values() if f["Body"] == "1"]
    assert any(a.texts[0].startswith("You are on ") for a in sign_ups)
    assert any("full" in a.texts[0] for a in sign_ups)  # the places ran out: a real race
