"""Webhook load benchmark: the Procfile's ``web`` command (gunicorn, as written) answering a
call-out storm of signed inbound webhooks, against a bare Flask app served by the same gunicorn
command line in the same run, with one ``handsup worker`` running as in production.

Setup (untimed): a PostgreSQL database (``handsup_load``; its ``public`` schema is dropped and
migrated) and Redis database 14, the fake Twilio REST server in its own process, a community
with 2,000 active consented volunteers, a shift in three hours with 50 places and an open
call-out for 50 people on it that every volunteer was asked (wave 1 by ``start_callout``, the
rest seeded as asks), so any of them may answer a bare ``YES``.

Measured, with a load generator on loopback (threads, stdlib ``http.client``, keep-alive when
the server allows it) posting webhooks signed like Twilio's (``RequestValidator`` over
``PUBLIC_BASE_URL`` + ``/twilio/inbound`` and every form field) from 2,000 distinct numbers,
three ``YES`` to every ``SHIFTS``:

1. baseline: a bare Flask app (one POST route, a fixed TwiML reply) under the SAME gunicorn
   command line and options, closed-loop with ``--clients`` clients, before and after HandsUp;
   Then the floor: a Flask app that checks the signature, stores the text once (one
   ``INSERT ... ON CONFLICT DO NOTHING``, committed) and answers the same fixed TwiML, the
   least any webhook that never loses a text must do (``create_floor_app``), same command line;
   and, after HandsUp's run, HandsUp's statements alone (``bench.statements_only``: the same
   SQL for each text through Core, no ORM, no flow step), the most a rewrite of its Python
   could reach;
2. open loop: ``--rate`` requests/s (default 50) for ``--duration`` s (default 20), each request
   sent at its scheduled moment; latency is from that moment (queueing in the generator
   counts), p50/p95/p99, errors (not 200, or not TwiML with a ``<Message>``). Target: p99 <
   250 ms, no errors;
3. closed loop: ``--clients`` clients as fast as HandsUp answers for ``--closed-duration`` s;
   requests/s and its ratio to the baseline (target >= 40%), to the floor and to the
   statements alone;
4. memory: peak RSS (VmHWM, and the highest VmRSS sampled) of each gunicorn worker process and
   of the ``handsup worker`` process (target < 120 MB each);
5. checks: every inbound message posted is stored exactly once and processed; the shift's
   ``confirmed_count`` is within its capacity and equals its place-holding assignments.

``--scale`` then does the same against one community of the big database built by
``bench.data_scale`` (1,000 communities, 200,000 volunteers, 5,000,000 messages; built once,
reused) and prints each figure's ratio to the small database's (target: within 20%).

Run: ``.venv/bin/python -m bench.webhook_load [--rate 50] [--duration 20] [--clients 8]
[--closed-duration 15] [--web-concurrency N] [--scale] [--profile] [--check]``. Prints PASS/FAIL
per target; exits non-zero only with ``--check`` when a target or a check fails.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import http.client
import io
import logging
import os
import pstats
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response, abort, request
from sqlalchemy import Engine, func, insert, make_url, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOAD_DATABASE = "handsup_load"
DEFAULT_DATABASE_URL = f"postgresql://postgres@127.0.0.1:5432/{LOAD_DATABASE}"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
FORBIDDEN_DATABASES = frozenset({"handsup_test"})  # the suite drops and recreates it
FORBIDDEN_REDIS_DB = 15  # the lead's full test runs
ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "bench-auth-token-" + "x" * 16
PUBLIC_BASE_URL = "https://bench.example.org"
INBOUND_PATH = "/twilio/inbound"
COMMUNITY_NUMBER = "+12025550100"
COMMUNITY_SLUG = "bench-load"
VOLUNTEERS = 2_000
CAPACITY = 50
SHIFTS_EVERY = 4  # every 4th text is SHIFTS, the others YES
WARMUP_REQUESTS = 20
P99_TARGET_MS = 250.0
RATIO_TARGET = 0.40
RSS_TARGET_MB = 120.0
SCALE_TARGET = 0.20  # the big database's figures within 20% of the small one's
MEMORY_INTERVAL = 0.2  # seconds between /proc samples
START_TIMEOUT = 60.0
DRAIN_TIMEOUT = 10.0
BARE_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks! You are on the list. '
    "Text MY to see your shifts.</Message></Response>"
)


def create_bare_app() -> Flask:
    """The baseline: one POST route answering a fixed TwiML reply, nothing else."""
    app = Flask("bare")

    @app.post(INBOUND_PATH)
    def inbound() -> Response:
        return Response(BARE_TWIML, mimetype="text/xml")

    return app


FLOOR_TABLE = "bench_floor_inbound"
STATEMENTS_APP = "bench.statements_only:create_statements_app()"  # the same statements, no ORM


def create_floor_app() -> Flask:
    """The floor: the least a webhook that never loses a text must do before it answers. It
    checks Twilio's signature and stores the text once (one ``INSERT ... ON CONFLICT DO
    NOTHING`` on its MessageSid, committed, through an engine built like the app's), then
    answers the bare app's fixed TwiML. No volunteer, no conversation, no reply of its own."""
    from service.config import normalize_database_url
    from service.db import make_engine

    app = Flask("floor")
    engine = make_engine(normalize_database_url(os.environ["DATABASE_URL"]))
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    url = os.environ["PUBLIC_BASE_URL"] + INBOUND_PATH
    statement = text(
        f"INSERT INTO {FLOOR_TABLE} (sid, sender, body) VALUES (:sid, :sender, :body) "
        "ON CONFLICT (sid) DO NOTHING"
    )

    @app.post(INBOUND_PATH)
    def inbound() -> Response:
        form = request.form
        if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        row = {"sid": form["MessageSid"], "sender": form["From"], "body": form["Body"]}
        with engine.begin() as connection:
            connection.execute(statement, row)
        return Response(BARE_TWIML, mimetype="text/xml")

    return app


def create_floor_table(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {FLOOR_TABLE}"))
        connection.execute(
            text(
                f"CREATE TABLE {FLOOR_TABLE} (sid VARCHAR(64) PRIMARY KEY, "
                "sender VARCHAR(64) NOT NULL, body TEXT NOT NULL, "
                "created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
        )


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    scheduled: float  # perf_counter when it was due (open loop) or sent (closed loop)
    started: float
    ended: float
    ok: bool
    error: str = ""

    @property
    def latency(self) -> float:
        return self.ended - self.scheduled


@dataclass(frozen=True)
class Phase:
    name: str
    samples: list[Sample]
    seconds: float

    @property
    def completed(self) -> int:
        return len(self.samples)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if not s.ok)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        latencies = sorted(s.latency for s in self.samples)
        if not latencies:
            return float("nan")
        index = min(len(latencies) - 1, max(0, round(q * len(latencies) + 0.5) - 1))
        return latencies[index] * 1000

    def first_errors(self, n: int = 3) -> list[str]:
        return [s.error for s in self.samples if not s.ok][:n]


@dataclass
class Peak:
    """The highest memory a process reached while sampled, in kB."""

    label: str
    rss_kb: int = 0
    hwm_kb: int = 0

    @property
    def peak_mb(self) -> float:
        return max(self.rss_kb, self.hwm_kb) / 1024


@dataclass
class Checks:
    posted: int
    stored: int
    duplicates: int
    unprocessed: int
    missing: int
    capacity: int
    confirmed_count: int
    holding: int
    callout_filled: int
    callout_need: int
    outbound_sent: int
    outbound_pending: int

    @property
    def ok(self) -> bool:
        return (
            self.stored == self.posted
            and self.duplicates == 0
            and self.unprocessed == 0
            and self.missing == 0
            and self.confirmed_count <= self.capacity
            and self.holding == self.confirmed_count
            and self.callout_filled <= self.callout_need
        )


@dataclass
class Run:
    """One database's figures: open loop, closed loop, memory, checks."""

    label: str
    open_loop: Phase
    closed_loop: Phase
    web_peaks: list[Peak]
    worker_peaks: list[Peak]
    checks: Checks
    profile: str = ""
    cpu: CpuPerText | None = None


@dataclass
class CpuPerText:
    """CPU time the closed loop cost per answered text, in ms: the gunicorn workers' and the
    PostgreSQL backends' of the bench database (user + system, from /proc). A busy machine
    changes throughput a lot and CPU per text little, so this is the figure to compare runs
    of two versions side by side on a shared machine."""

    web_ms: float
    database_ms: float

    @property
    def total_ms(self) -> float:
        return self.web_ms + self.database_ms


@dataclass
class Target:
    """Where a run happens: database, Redis, and the community the storm texts."""

    database_url: str
    redis_url: str
    number: str = COMMUNITY_NUMBER
    phones: list[str] = field(default_factory=list)


# -- load generation ---------------------------------------------------------------------------


class Plan:
    """Signed, encoded webhook bodies, prepared before any timing; each posted once."""

    def __init__(self, number: str, phones: Sequence[str], prefix: str) -> None:
        self.number = number
        self.phones = list(phones)
        self.prefix = prefix
        self.validator = RequestValidator(AUTH_TOKEN)
        self.count = 0
        self.sids: list[str] = []

    def make(self, sender: str, body: str) -> tuple[bytes, dict[str, str]]:
        self.count += 1
        # Twilio's shape (SM + 32 hex), unique per plan prefix and text
        sid = "SM" + hashlib.md5(f"{self.prefix}:{self.count}".encode()).hexdigest()
        self.sids.append(sid)
        form = {
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": self.number,
            "Body": body,
            "NumMedia": "0",
        }
        signature = self.validator.compute_signature(PUBLIC_BASE_URL + INBOUND_PATH, form)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": str(signature),
        }
        return urlencode(form).encode(), headers

    def storm(self, start: int, count: int) -> list[tuple[bytes, dict[str, str]]]:
        """``count`` texts from the phones after ``start`` (wrapping): YES, YES, YES, SHIFTS."""
        texts = []
        for i in range(start, start + count):
            body = "SHIFTS" if i % SHIFTS_EVERY == SHIFTS_EVERY - 1 else "YES"
            texts.append(self.make(self.phones[i % len(self.phones)], body))
        return texts


def is_twiml(raw: bytes, need_message: bool) -> bool:
    try:
        root = ET.fromstring(raw)
    except ET.ParseError:
        return False
    return root.tag == "Response" and (not need_message or root.find("Message") is not None)


class Client:
    """One loopback HTTP client; reconnects when the server closes (gunicorn's sync worker
    answers ``Connection: close``)."""

    def __init__(self, port: int, need_message: bool, timeout: float = 30.0) -> None:
        self.port = port
        self.need_message = need_message
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def exchange(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST one webhook: (HTTP status, body). OSError or HTTPException when no answer came
        (the connection is closed then, and the next request opens a new one)."""
        try:
            self.connection.request("POST", INBOUND_PATH, body=body, headers=headers)
            response = self.connection.getresponse()
            raw = response.read()
            if response.getheader("Connection", "").lower() == "close":
                self.connection.close()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            raise
        return response.status, raw

    def post(self, body: bytes, headers: dict[str, str], scheduled: float) -> Sample:
        started = time.perf_counter()
        try:
            status, raw = self.exchange(body, headers)
        except (OSError, http.client.HTTPException) as exc:
            return Sample(scheduled, started, time.perf_counter(), False, repr(exc))
        ended = time.perf_counter()
        if status != 200:
            return Sample(scheduled, started, ended, False, f"HTTP {status}: {raw[:80]!r}")
        if not is_twiml(raw, self.need_message):
            return Sample(scheduled, started, ended, False, f"bad TwiML: {raw[:80]!r}")
        return Sample(scheduled, started, ended, True)

    def close(self) -> None:
        self.connection.close()


def paced(
    count: int,
    rate: float,
    threads: int,
    t0: float,
    make_client: Callable[[], Client],
    send: Callable[[Client, int, float], None],
) -> None:
    """Call ``send(client, i, due)`` for i in 0..count-1 at ``due = t0 + i / rate``
    (``time.perf_counter``) whatever the answers, from ``threads`` threads with a client
    each, taking the texts in order; returns when every send has returned."""
    lock = threading.Lock()
    next_index = iter(range(count))

    def run() -> None:
        client = make_client()
        try:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                due = t0 + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                send(client, i, due)
        finally:
            client.close()

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def open_loop(
    port: int, texts: list[tuple[bytes, dict[str, str]]], rate: float, threads: int
) -> Phase:
    """Send text i at t0 + i/rate whatever the answers (open loop): latency from that moment."""
    samples: list[Sample] = []
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.2

    def send(client: Client, i: int, due: float) -> None:
        sample = client.post(*texts[i], scheduled=due)
        with lock:
            samples.append(sample)

    paced(len(texts), rate, threads, t0, lambda: Client(port, need_message=True), send)
    seconds = max(s.ended for s in samples) - t0
    return Phase("open loop", samples, seconds)


def closed_loop(
    port: int,
    texts: list[tuple[bytes, dict[str, str]]],
    clients: int,
    duration: float,
    need_message: bool,
) -> Phase:
    """``clients`` clients, each sending its next text when the last was answered."""
    samples: list[Sample] = []
    lock = threading.Lock()
    next_index = iter(range(len(texts)))
    stop_at = time.perf_counter() + duration
    started = time.perf_counter()

    def run() -> None:
        client = Client(port, need_message=need_message)
        try:
            while time.perf_counter() < stop_at:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                now = time.perf_counter()
                sample = client.post(*texts[i], scheduled=now)
                with lock:
                    samples.append(sample)
        finally:
            client.close()

    workers = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = max(s.ended for s in samples) - started
    return Phase("closed loop", samples, seconds)


# -- processes ---------------------------------------------------------------------------------


def procfile_web_command(port: int, app_spec: str | None = None) -> list[str]:
    """The Procfile's ``web:`` line as written, with ``$PORT`` filled in (and, for the
    baseline, another app in place of the last argument)."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            command = line.removeprefix("web:").strip().replace("$PORT", str(port))
            argv = shlex.split(command)
            break
    else:
        raise SystemExit("Procfile has no web: line")
    if argv[0] == "gunicorn":
        argv[0] = str(BIN / "gunicorn")
    if app_spec is not None:
        argv[-1] = app_spec
    return argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_env(
    target: Target, fake_url: str, tmpdir: Path, web_concurrency: int | None
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEST_", "HANDSUP_", "BENCH_"))
        and k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "DATABASE_URL", "REDIS_URL")
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        HANDSUP_ENV="production",
        DATABASE_URL=target.database_url,
        REDIS_URL=target.redis_url,
        SECRET_KEY="bench-secret-key-not-for-production",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_BASE_URL=fake_url,
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        HANDSUP_INSTANCE_PATH=str(tmpdir / "instance"),
    )
    if web_concurrency is not None:
        env["WEB_CONCURRENCY"] = str(web_concurrency)  # gunicorn's --workers default
    return env


@contextmanager
def process(
    argv: list[str], env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group, stopped with SIGTERM (then SIGKILL).

    It stays in the benchmark's session: Linux schedules each session as a group
    (autogroup), which would give one ``handsup worker`` as much CPU as all the web
    processes together and void its lower priority (``workers.worker.WORKER_NICE``).
    ``make run`` starts them in one session too; on a platform they have dynos of their
    own."""
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        try:
            yield child
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()


def wait_for_port(port: int, child: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"gunicorn exited ({child.returncode}):\n{log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gunicorn did not listen on {port}:\n{log_path.read_text()[-4000:]}")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def cpu_ticks(pids: Sequence[int]) -> dict[int, int]:
    """utime + stime of each process that still exists, in clock ticks."""
    ticks = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


def database_backends(engine: Engine) -> list[int]:
    """The server processes of the bench database's other connections (web and worker)."""
    with engine.connect() as connection:
        return list(
            connection.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            )
        )


def cpu_spent_ms(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU ms between two snapshots; a process first seen after counts from zero."""
    hz = os.sysconf("SC_CLK_TCK")
    return sum(t - before.get(pid, 0) for pid, t in after.items()) * 1000 / hz


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in kB; zeros once it is gone."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


class MemorySampler(threading.Thread):
    """Samples the gunicorn workers (children of the master) and the worker process tree."""

    def __init__(self, master: int, worker: int) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.master = master
        self.worker = worker
        self.web: dict[int, Peak] = {}
        self.jobs: dict[int, Peak] = {}
        self.stopped = threading.Event()

    def sample(self) -> None:
        targets = [(pid, self.web, "gunicorn worker") for pid in children(self.master)]
        targets.append((self.worker, self.jobs, "handsup worker"))
        targets += [(pid, self.jobs, "  its child") for pid in children(self.worker)]
        for pid, table, label in targets:
            rss, hwm = memory_kb(pid)
            peak = table.setdefault(pid, Peak(f"{label} pid {pid}"))
            peak.rss_kb = max(peak.rss_kb, rss)
            peak.hwm_kb = max(peak.hwm_kb, hwm)

    def run(self) -> None:
        while not self.stopped.wait(MEMORY_INTERVAL):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self.stopped.set()
        self.join()


# -- database ----------------------------------------------------------------------------------


def check_urls(database_url: str, redis_url: str) -> None:
    if make_url(database_url).database in FORBIDDEN_DATABASES:
        raise SystemExit("refusing handsup_test: the test suite drops and recreates it")
    path = redis_url.rsplit("/", 1)[-1] if redis_url.count("/") >= 3 else "0"
    if path.isdigit() and int(path) == FORBIDDEN_REDIS_DB:
        raise SystemExit("refusing Redis database 15: the full test runs use it")


def phones_for(count: int, area: str = "303") -> list[str]:
    return [f"+1{area}{5_550_000 + i:07d}" for i in range(count)]


def seed_load_community(
    factory: sessionmaker[Session], number: str, phones: Sequence[str], slug: str = COMMUNITY_SLUG
) -> int:
    """The storm's community: active volunteers, a 50-place shift and an open call-out that
    asked everyone. Returns the community id."""
    from flows.engine import VolunteerStatus
    from flows.shifts import ShiftQuestion
    from service.communities.registry import create_community
    from service.conversations.questions import ask_question
    from service.db import unit_of_work
    from service.models import CallOutAsk, Volunteer
    from service.rosters import callouts
    from service.rosters import shifts as rosters

    now = datetime.now(UTC)
    with unit_of_work(factory) as session:
        community = create_community(
            session,
            name="Bench Flood Crew",
            slug=slug,
            number=number,
            country="US",
            timezone="America/New_York",
            help_contact="+12025550142",
        )
        community.quiet_start_minute = community.quiet_end_minute = 0  # never quiet hours
        session.flush()
        community_id = community.id
        rows = [
            {
                "community_id": community_id,
                "phone": phone,
                "name": f"Volunteer {index}",
                "language": "en",
                "status": VolunteerStatus.ACTIVE,
                "skills": [],
                "consent_at": now,
                "consent_source": "bench",
                "sms_consent_at": now,
            }
            for index, phone in enumerate(phones)
        ]
        session.execute(insert(Volunteer), rows)
        shift = rosters.add_shift(
            session,
            community,
            title="Sandbags",
            place="School gym",
            starts_at=now + timedelta(hours=3),
            ends_at=now + timedelta(hours=6),
            capacity=CAPACITY,
        )
        callout = callouts.start_callout(session, shift, community, CAPACITY, "Bring gloves.", now)
        asked = set(
            session.scalars(
                select(CallOutAsk.volunteer_id).where(CallOutAsk.callout_id == callout.id)
            )
        )
        others = session.scalars(
            select(Volunteer).where(
                Volunteer.community_id == community_id, Volunteer.id.not_in(asked)
            )
        ).all()
        for volunteer in others:  # the later waves, as if already sent
            ask_question(volunteer, ShiftQuestion.CALLOUT, callout.id, shift.ends_at)
        session.execute(
            insert(CallOutAsk),
            [
                {"callout_id": callout.id, "volunteer_id": v.id, "wave": 2, "asked_at": now}
                for v in others
            ],
        )
        session.execute(
            update(Volunteer)
            .where(Volunteer.community_id == community_id)
            .values(last_asked_at=now)
            .execution_options(synchronize_session=False)
        )
    return community_id


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))


def run_checks(factory: sessionmaker[Session], community_id: int, sids: Sequence[str]) -> Checks:
    from service.models import (
        Assignment,
        CallOut,
        Direction,
        Message,
        MessageStatus,
        Shift,
    )
    from service.models.rosters import PLACE_HOLDING

    posted = set(sids)
    with factory() as session:
        rows = session.execute(
            select(Message.twilio_sid, Message.status).where(
                Message.community_id == community_id, Message.direction == Direction.INBOUND
            )
        ).all()
        mine = [row for row in rows if row.twilio_sid in posted]
        stored = {row.twilio_sid for row in mine}
        shift = session.scalars(select(Shift).where(Shift.community_id == community_id)).one()
        holding = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.shift_id == shift.id, Assignment.status.in_(PLACE_HOLDING))
        )
        callout = session.scalars(select(CallOut).where(CallOut.shift_id == shift.id)).one()
        outbound = dict(
            session.execute(
                select(Message.status, func.count())
                .where(
                    Message.community_id == community_id,
                    Message.direction == Direction.OUTBOUND,
                    Message.kind.not_in(("reply", "broadcast")),  # not the history
                )
                .group_by(Message.status)
            ).all()
        )
    sent = sum(
        outbound.get(s, 0)
        for s in (MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.DELIVERED)
    )
    pending = sum(outbound.get(s, 0) for s in (MessageStatus.PENDING, MessageStatus.SENDING))
    return Checks(
        posted=len(posted),
        stored=len(stored),
        duplicates=len(mine) - len(stored),
        unprocessed=sum(1 for row in mine if row.status != MessageStatus.PROCESSED),
        missing=len(posted - stored),
        capacity=shift.capacity,
        confirmed_count=shift.confirmed_count,
        holding=int(holding or 0),
        callout_filled=callout.filled,
        callout_need=callout.need,
        outbound_sent=sent,
        outbound_pending=pending,
    )


def wait_for_outbox(factory: sessionmaker[Session], community_id: int) -> None:
    """Give the worker time to send what the storm queued (call-out asks, notices)."""
    from service.models import Direction, Message, MessageStatus

    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        with factory() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.community_id == community_id,
                    Message.direction == Direction.OUTBOUND,
                    Message.status.in_((MessageStatus.PENDING, MessageStatus.SENDING)),
                    Message.not_before <= datetime.now(UTC),
                )
            )
        if not pending:
            return
        time.sleep(0.5)


# -- one run -----------------------------------------------------------------------------------


def baseline(
    args: argparse.Namespace,
    env: dict[str, str],
    tmpdir: Path,
    label: str,
    app_spec: str = "bench.webhook_load:create_bare_app()",
    name: str = "bare",
) -> Phase:
    """A closed loop against another app under the Procfile's web command line."""
    port = free_port()
    argv = procfile_web_command(port, app_spec)
    log_path = tmpdir / f"{name}.log"
    plan = Plan(COMMUNITY_NUMBER, phones_for(VOLUNTEERS), prefix=f"{name}{label}")
    texts = plan.storm(0, int(args.closed_duration * 4000))
    with process(argv, env, log_path) as child:
        wait_for_port(port, child, log_path)
        closed_loop(port, texts[:WARMUP_REQUESTS], 2, 10.0, need_message=True)
        phase = closed_loop(port, texts[WARMUP_REQUESTS:], args.clients, args.closed_duration, True)
    if phase.errors:
        raise SystemExit(f"{name} {label} failed: {phase.first_errors()}")
    return Phase(f"{name} {label}", phase.samples, phase.seconds)


def bare_around(before: Phase, after: Phase) -> Phase:
    """The baseline of a run: the bare app measured before and after it, printed and pooled."""
    print(phase_line(before))
    print(phase_line(after))
    return Phase("bare", before.samples + after.samples, before.seconds + after.seconds)


def handsup_run(
    args: argparse.Namespace,
    target: Target,
    fake_url: str,
    tmpdir: Path,
    community_id: int,
    label: str,
) -> Run:
    from service.db import make_engine, make_session_factory

    env = app_env(target, fake_url, tmpdir, args.web_concurrency)
    engine = make_engine(target.database_url)
    factory = make_session_factory(engine)
    port = free_port()
    web_log, worker_log = tmpdir / f"web-{label}.log", tmpdir / f"worker-{label}.log"
    plan = Plan(target.number, target.phones, prefix=label[:4])
    warmup = [plan.make(phone, "HELP") for phone in phones_for(WARMUP_REQUESTS, area="404")]
    open_count = int(args.rate * args.duration)
    open_texts = plan.storm(0, open_count)
    closed_texts = plan.storm(open_count, int(args.closed_duration * 600))
    with (
        process([str(BIN / "handsup"), "worker"], env, worker_log) as worker,
        process(procfile_web_command(port), env, web_log) as web,
    ):
        wait_for_port(port, web, web_log)
        sampler = MemorySampler(web.pid, worker.pid)
        sampler.start()
        warm = closed_loop(port, warmup, 2, 30.0, need_message=True)
        if warm.errors:
            raise SystemExit(
                f"warm-up failed: {warm.first_errors()}\n{web_log.read_text()[-3000:]}"
            )
        first = open_loop(port, open_texts, args.rate, threads=64)
        web_pids, db_pids = children(web.pid), database_backends(engine)
        web_before, db_before = cpu_ticks(web_pids), cpu_ticks(db_pids)
        second = closed_loop(port, closed_texts, args.clients, args.closed_duration, True)
        web_after = cpu_ticks(children(web.pid))
        db_after = cpu_ticks(database_backends(engine))
        answered = max(1, second.completed)
        cpu = CpuPerText(
            cpu_spent_ms(web_before, web_after) / answered,
            cpu_spent_ms(db_before, db_after) / answered,
        )
        wait_for_outbox(factory, community_id)
        sampler.stop()
        if worker.poll() is not None:
            raise SystemExit(f"worker exited:\n{worker_log.read_text()[-3000:]}")
    # Posted: the warm-up, every open-loop text, the closed loop's first ones (taken in order).
    closed_start = WARMUP_REQUESTS + open_count
    sent_sids = plan.sids[:closed_start] + plan.sids[closed_start : closed_start + second.completed]
    checks = run_checks(factory, community_id, sent_sids)
    profile = ""
    if args.profile:
        profile = profile_inbound(target, fake_url, tmpdir, community_id)
    engine.dispose()
    return Run(
        label,
        first,
        second,
        sorted(sampler.web.values(), key=lambda p: p.label),
        sorted(sampler.jobs.values(), key=lambda p: p.label),
        checks,
        profile,
        cpu,
    )


def profile_inbound(target: Target, fake_url: str, tmpdir: Path, community_id: int) -> str:
    """200 more storm texts in this process through the Flask test client under cProfile:
    the heaviest HandsUp functions by cumulative time (cProfile inflates Python-heavy parts)."""
    from service.app import create_app
    from service.config import Settings

    env = app_env(target, fake_url, tmpdir, None)
    app = create_app(Settings.from_env(env))
    logging.getLogger().setLevel(logging.WARNING)  # no request lines in the report
    client = app.test_client()
    plan = Plan(target.number, target.phones, prefix="prof")
    texts = plan.storm(VOLUNTEERS // 2 + 7, 200)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for body, headers in texts:
        client.post(INBOUND_PATH, data=body, headers=headers, base_url=PUBLIC_BASE_URL)
    profiler.disable()
    seconds = time.perf_counter() - started
    app.extensions["handsup"].engine.dispose()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"/(service|flows)/", 24)
    lines = [f"profile: {len(texts)} webhooks in-process in {seconds:.2f} s (under cProfile)"]
    lines += [line for line in out.getvalue().splitlines() if line.strip()][-26:]
    return "\n".join(lines)


# -- report ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def phase_line(phase: Phase) -> str:
    return (
        f"{phase.name:12} {phase.completed:6d} requests in {phase.seconds:6.2f} s = "
        f"{phase.rate:7.1f}/s; latency p50 {phase.percentile_ms(0.50):7.1f} ms, "
        f"p95 {phase.percentile_ms(0.95):7.1f} ms, p99 {phase.percentile_ms(0.99):7.1f} ms, "
        f"max {phase.percentile_ms(1.0):7.1f} ms; errors {phase.errors}"
    )


def report_run(
    run: Run,
    bare: Phase,
    args: argparse.Namespace,
    floor: Phase | None = None,
    statements: Phase | None = None,
) -> bool:
    print(f"--- {run.label}")
    print(phase_line(run.open_loop))
    for error in run.open_loop.first_errors():
        print(f"  error: {error}")
    print(phase_line(run.closed_loop))
    for error in run.closed_loop.first_errors():
        print(f"  error: {error}")
    ratio = run.closed_loop.rate / bare.rate
    for peak in run.web_peaks + run.worker_peaks:
        print(
            f"memory:      {peak.label}: peak {peak.peak_mb:6.1f} MB "
            f"(VmHWM {peak.hwm_kb / 1024:.1f} MB, "
            f"highest VmRSS sampled {peak.rss_kb / 1024:.1f} MB)"
        )
    c = run.checks
    print(
        f"checks:      inbound posted {c.posted}, stored {c.stored}, duplicates {c.duplicates}, "
        f"missing {c.missing}, unprocessed {c.unprocessed}; shift confirmed_count "
        f"{c.confirmed_count} of capacity {c.capacity}, place-holding assignments {c.holding}; "
        f"call-out filled {c.callout_filled} of {c.callout_need}; worker sent {c.outbound_sent} "
        f"texts, {c.outbound_pending} still pending -> {verdict(c.ok)}"
    )
    p99 = run.open_loop.percentile_ms(0.99)
    achieved_ok = run.open_loop.rate >= 0.95 * args.rate
    open_ok = p99 < P99_TARGET_MS and run.open_loop.errors == 0 and achieved_ok
    closed_ok = ratio >= RATIO_TARGET and run.closed_loop.errors == 0
    web_mb = max((p.peak_mb for p in run.web_peaks), default=0.0)
    worker_main = [p for p in run.worker_peaks if p.label.startswith("handsup worker")]
    worker_mb = max((p.peak_mb for p in worker_main), default=0.0)
    memory_ok = 0 < web_mb < RSS_TARGET_MB and 0 < worker_mb < RSS_TARGET_MB
    print(
        f"target:      open loop {args.rate:.0f}/s, p99 < {P99_TARGET_MS:.0f} ms, no errors: "
        f"{verdict(open_ok)} (achieved {run.open_loop.rate:.1f}/s, p99 {p99:.1f} ms, "
        f"{run.open_loop.errors} errors)"
    )
    print(
        f"target:      closed loop >= {RATIO_TARGET:.0%} of bare: {verdict(closed_ok)} "
        f"({run.closed_loop.rate:.1f}/s vs {bare.rate:.1f}/s = {ratio:.1%})"
    )
    if run.cpu is not None:
        print(
            f"cpu:         closed loop per text {run.cpu.total_ms:.2f} ms (web workers "
            f"{run.cpu.web_ms:.2f} ms, PostgreSQL {run.cpu.database_ms:.2f} ms)"
        )
    if floor is not None:
        print(
            f"ratio:       closed loop / floor {run.closed_loop.rate / floor.rate:.1%} "
            f"({run.closed_loop.rate:.1f}/s vs {floor.rate:.1f}/s)"
        )
    if statements is not None:
        share = run.closed_loop.rate / statements.rate
        print(
            f"ratio:       closed loop / statements only {share:.1%}"
            f" ({run.closed_loop.rate:.1f}/s vs {statements.rate:.1f}/s): what the ORM, the flow "
            "step and the rest of the request cost"
        )
    print(
        f"target:      peak RSS < {RSS_TARGET_MB:.0f} MB: {verdict(memory_ok)} "
        f"(web worker {web_mb:.1f} MB, handsup worker {worker_mb:.1f} MB)"
    )
    print(f"check:       database after the run: {verdict(c.ok)}")
    if run.profile:
        print(run.profile)
    return open_ok and closed_ok and memory_ok and c.ok


def report_scale(small: Run, big: Run, bare_small: Phase, bare_big: Phase) -> bool:
    """Each figure of the big database's run over the small one's (lower is better for
    latencies, higher for rates), raw and corrected for the machine's drift.

    On a shared machine the same bare app runs 20-30% faster or slower from one minute to the
    next, so the raw ratios mix the database's size with the machine's mood. The bare app's
    rate before and after each run (``bare_small``, ``bare_big``) measures that drift:
    latencies are multiplied and rates divided by ``bare_big.rate / bare_small.rate``. The
    verdict uses the corrected ratio."""
    print("--- data scale: big database / small database")
    speed = bare_big.rate / bare_small.rate
    print(
        f"scale:       machine drift: bare {bare_small.rate:.1f}/s next to the small run, "
        f"{bare_big.rate:.1f}/s next to the big one = {speed:.1%}"
    )
    ok = True
    figures = [
        ("open loop p50", small.open_loop.percentile_ms(0.5), big.open_loop.percentile_ms(0.5)),
        ("open loop p95", small.open_loop.percentile_ms(0.95), big.open_loop.percentile_ms(0.95)),
        ("open loop p99", small.open_loop.percentile_ms(0.99), big.open_loop.percentile_ms(0.99)),
        (
            "closed loop p50",
            small.closed_loop.percentile_ms(0.5),
            big.closed_loop.percentile_ms(0.5),
        ),
    ]
    for name, a, b in figures:
        corrected = b / a * speed
        within = corrected <= 1 + SCALE_TARGET
        ok = ok and within
        print(
            f"scale:       {name:16} {a:7.1f} ms -> {b:7.1f} ms = {b / a:6.1%} raw, "
            f"{corrected:6.1%} corrected {verdict(within)}"
        )
    a, b = small.closed_loop.rate, big.closed_loop.rate
    corrected = b / a / speed
    within = corrected >= 1 - SCALE_TARGET
    ok = ok and within
    print(
        f"scale:       {'closed loop rate':16} {a:7.1f}/s -> {b:7.1f}/s = {b / a:6.1%} raw, "
        f"{corrected:6.1%} corrected {verdict(within)}"
    )
    print(
        f"target:      big database within {SCALE_TARGET:.0%} of the small one (corrected): "
        f"{verdict(ok)}"
    )
    return ok


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rate", type=float, default=50.0, help="open loop requests/s (50)")
    parser.add_argument("--duration", type=float, default=20.0, help="open loop seconds (20)")
    parser.add_argument("--clients", type=int, default=8, help="closed loop clients (8)")
    parser.add_argument(
        "--closed-duration", type=float, default=15.0, help="closed loop seconds (15)"
    )
    parser.add_argument(
        "--web-concurrency",
        type=int,
        help="WEB_CONCURRENCY for gunicorn (its --workers default); unset: the Procfile as "
        "written, 1 sync worker",
    )
    parser.add_argument(
        "--database-url", help=f"default: BENCH_DATABASE_URL, {DEFAULT_DATABASE_URL}"
    )
    parser.add_argument("--redis-url", help=f"default: BENCH_REDIS_URL, {DEFAULT_REDIS_URL}")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="then run against the big database of bench.data_scale (built when missing)",
    )
    parser.add_argument("--scale-database-url", help="default: the server's handsup_scale")
    parser.add_argument(
        "--profile", action="store_true", help="then profile 200 webhooks in-process"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.clients < 1 or args.closed_duration <= 0:
        parser.error("--rate, --duration, --clients and --closed-duration must be positive")
    return args


def prepare_small(database_url: str) -> None:
    from bench.broadcast import prepare_database

    prepare_database(database_url)


def gunicorn_config() -> dict[str, object]:
    config: dict[str, object] = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), config)
    return config


def gunicorn_workers() -> int:
    """The worker count gunicorn.conf.py gives gunicorn (WEB_CONCURRENCY, else its default)."""
    return int(str(gunicorn_config().get("workers", 1)))


def gunicorn_worker_class() -> str:
    return str(gunicorn_config().get("worker_class", "sync"))


def environment_line(engine: Engine, args: argparse.Namespace) -> str:
    with engine.connect() as connection:
        version = str(connection.scalar(text("SHOW server_version")))
    workers = args.web_concurrency or gunicorn_workers()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"environment: PostgreSQL {version}, CPUs {os.cpu_count()}, load average {load}, "
        f"Python {sys.version.split()[0]}, gunicorn {gunicorn_worker_class()} workers {workers}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def run(args: argparse.Namespace, tmpdir: Path) -> bool:
    from service.config import normalize_database_url
    from service.db import make_engine, make_session_factory
    from service.redis_conn import connect
    from tests.fakes.twilio_server import FakeTwilioProcess

    database_url = normalize_database_url(
        args.database_url or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    redis_url = args.redis_url or os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL
    check_urls(database_url, redis_url)
    prepare_small(database_url)
    redis = connect(redis_url)
    redis.flushdb()
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    phones = phones_for(VOLUNTEERS)
    community_id = seed_load_community(factory, COMMUNITY_NUMBER, phones)
    create_floor_table(engine)
    analyze(engine)
    print(environment_line(engine, args))
    print(f"web command: {shlex.join(procfile_web_command(0))} (port filled in)")
    engine.dispose()
    target = Target(database_url, redis_url, COMMUNITY_NUMBER, phones)
    passed = True
    with FakeTwilioProcess(ACCOUNT_SID, AUTH_TOKEN) as fake:
        env = app_env(target, fake.url, tmpdir, args.web_concurrency)
        before = baseline(args, env, tmpdir, "before")
        floor = baseline(args, env, tmpdir, "", "bench.webhook_load:create_floor_app()", "floor")
        small = handsup_run(args, target, fake.url, tmpdir, community_id, "small")
        statements = baseline(args, env, tmpdir, "", STATEMENTS_APP, "statements")
        after = baseline(args, env, tmpdir, "after")
        bare = bare_around(before, after)
        print(phase_line(floor))
        print(
            f"floor:       {floor.rate / bare.rate:.1%} of bare: storing each text before "
            "answering, and nothing else"
        )
        print(phase_line(statements))
        print(
            f"statements:  {statements.rate / floor.rate:.1%} of the floor: HandsUp's statements "
            "for each text and nothing else (no ORM, no flow step), the most a rewrite of its "
            "Python could reach"
        )
        passed = report_run(small, bare, args, floor, statements) and passed
        if args.scale:
            from bench import data_scale

            scale_url = normalize_database_url(
                args.scale_database_url or data_scale.default_url(database_url)
            )
            check_urls(scale_url, redis_url)
            redis.flushdb()
            big_target = data_scale.prepare(scale_url)
            big_community = data_scale.reset_load_community(scale_url, big_target)
            bare_first = baseline(args, env, tmpdir, "before-scale")
            big = handsup_run(
                args,
                Target(scale_url, redis_url, big_target.number, big_target.phones),
                fake.url,
                tmpdir,
                big_community,
                "scale",
            )
            bare_last = baseline(args, env, tmpdir, "after-scale")
            bare_big = bare_around(bare_first, bare_last)
            passed = report_run(big, bare_big, args) and passed
            passed = report_scale(small, big, bare, bare_big) and passed
    redis.flushdb()
    redis.close()
    return passed


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="handsup-load-") as tmp:
        passed = run(args, Path(tmp))
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
