"""Surge benchmark (issue 18): the Procfile's ``web`` and one ``handsup worker`` under three
times the load the web process answers synchronously, and whether every text is still stored
once, answered, in each volunteer's order, in time, and answered synchronously again soon
after the surge.

Setup (untimed): a PostgreSQL database (``handsup_surge``; its ``public`` schema is dropped and
migrated) and a Redis database (12, flushed); the fake Twilio REST server in its own process,
answering each send after ``--latency`` s (200 ms, +/- a quarter); one community whose SMS
sender is paced (pacing on, as in production) at ``--sms-rate`` messages/s, above any surge
rate, as for a short code, so the carrier's pace is not what is measured. ``--volunteers``
(5,000) active volunteers for the surge and 2,000 for the closed loop, each pool asked by an
open call-out of its own (50 places), so a bare YES answers it; three more open shifts for
the SHIFTS menu; fresh volunteers for the trickle.

Measured, with webhooks signed like Twilio's (``bench.webhook_load``'s ``Plan``) posted on
loopback, each with a Heroku-style ``X-Request-Start`` (ms since the epoch when sent), and
Twilio's 15 s webhook timeout:

1. the synchronous closed-loop capacity C: ``--clients`` clients for ``--closed-duration`` s,
   first-time YES then SHIFTS from the closed-loop pool; C counts answers with a <Message>;
2. the surge: an open loop at ``--multiplier`` x C (3) for ``--duration`` s (30) from the
   surge pool (all of it when that makes two texts or more each, else half as many volunteers
   as texts), each text sent at its moment whatever the answers: YES, then SHIFTS, then MY and
   SHIFTS in turn per volunteer (``bench.surge_model.schedule``), a quarter of them two back
   to back so that two texts of one volunteer are in flight at once;
3. the trickle: from the surge's end, ``--trickle-rate`` texts/s (2) for ``--trickle-duration``
   s (20), SHIFTS from fresh volunteers;
4. then it waits until nothing is left to process or send, and reads the inbound and reply
   rows and the fake's received sends;
5. the closed loop of 1. again, from a pool of its own (2,000 more volunteers asked by a
   call-out of their own): C after the drain, printed beside C (informational: the bound uses
   C). A drift of the machine's speed during the run shows in it (and would anything the
   surge left behind that slows the answer in the request).

A text is answered synchronously when its HTTP answer is TwiML with a <Message>, and deferred
when it is an empty TwiML; a deferred text is answered when the fake Twilio received the REST
send of each of its reply rows (matched by the rows' Twilio SID). Targets
(``bench.surge_model.verdicts``): 0 non-2xx answers; every MessageSid stored exactly once;
HTTP answer p99 < 1 s (from each text's moment); every text answered, each volunteer's in
order; the last answer within 1.25 x texts / C of the first text; answers synchronous again
within 10 s after the surge ends.

Run: ``.venv/bin/python -m bench.surge [--volunteers 5000] [--duration 30] [--database-url URL]
[--redis-url URL] [--check] [--keep-logs DIR]``. Prints the figures and PASS/FAIL per target;
exits non-zero only with ``--check`` when a target fails.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import Session, aliased, sessionmaker

from bench.broadcast import (
    create_bench_community,
    insert_volunteers,
    prepare_database,
    wait_until_idle,
)
from bench.cpu import (
    LOAD,
    Spent,
    descendants,
    handsup_ms,
    joined,
    ms_each,
    postgres_processes,
    snapshot,
    spent,
)
from bench.open_loop import Answer, Request, post_all
from bench.surge_model import (
    BAD,
    DEFERRED,
    DRAIN_SLACK,
    SYNC,
    Figures,
    Posted,
    Reply,
    Stored,
    figures,
    schedule,
    timeline,
    verdicts,
)
from bench.webhook_load import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BIN,
    COMMUNITY_NUMBER,
    INBOUND_PATH,
    Phase,
    Plan,
    Target,
    analyze,
    app_env,
    check_urls,
    closed_loop,
    environment_line,
    free_port,
    is_twiml,
    phase_line,
    phones_for,
    process,
    procfile_web_command,
    verdict,
    wait_for_port,
)
from flows.shifts import ShiftQuestion
from service.config import normalize_database_url
from service.db import make_engine, make_session_factory, unit_of_work
from service.models import (
    CallOut,
    CallOutAsk,
    CallOutStatus,
    Community,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Volunteer,
    is_waiting,
)
from service.redis_conn import connect
from service.rosters.shifts import add_shift
from tests.fakes.twilio_server import FakeTwilioProcess

SURGE_DATABASE = "handsup_surge"
DEFAULT_DATABASE_URL = f"postgresql://postgres@127.0.0.1:5432/{SURGE_DATABASE}"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
VOLUNTEERS = 5_000
CLOSED_VOLUNTEERS = 2_000  # first-time YES and SHIFTS: 4,000 texts, 400/s for 10 s
CAPACITY = 50  # places of each call-out
MENU_SHIFTS = (("Sorting", "Food bank"), ("Driving", "Depot"), ("Kitchen", "Church hall"))
WARMUP_TEXTS = 20  # HELP from new numbers before the closed loop
TWILIO_TIMEOUT = 15.0  # s Twilio waits for a webhook's answer, then gives up (no retry)
START_DELAY = 0.5  # s between preparing the surge and its first text
POLL_INTERVAL = 0.5
LANES_READY = "lane processes ready"  # workers.deferred_texts's line once its lanes started
LANES_TIMEOUT = 120.0  # s
DRAIN_GRACE = 60.0  # s beyond the drain bound the bench waits for the last answers


@dataclass(frozen=True)
class Outgoing:
    """A signed webhook, prepared before any timing."""

    sid: str
    sender: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Pools:
    surge: list[str]
    closed: list[str]
    trickle: list[str]
    warmup: list[str]  # numbers no volunteer has: HELP starts onboarding
    closed_after: list[str] = field(default_factory=list)  # C again, once the drain is over


# -- setup -------------------------------------------------------------------------------------


def seed(factory: sessionmaker[Session], pools: Pools, sms_rate: float) -> int:
    """The community: its SMS sender paced at ``sms_rate``, every pool's volunteers, the menu's
    shifts and a call-out per pool that asked all of it. Returns the community id."""
    community_id = create_bench_community(factory, "long-code", sms_rate)
    everyone = pools.surge + pools.closed + pools.closed_after + pools.trickle
    insert_volunteers(factory, community_id, everyone)
    now = datetime.now(UTC)
    with unit_of_work(factory) as session:
        community = session.get_one(Community, community_id)
        for days, (title, place) in enumerate(MENU_SHIFTS, start=1):
            starts = now + timedelta(days=days)
            add_shift(
                session,
                community,
                title=title,
                place=place,
                starts_at=starts,
                ends_at=starts + timedelta(hours=3),
                capacity=20,
            )
        asked = [("Sandbags (closed loop)", pools.closed), ("Sandbags", pools.surge)]
        if pools.closed_after:
            asked.append(("Sandbags (closed loop after)", pools.closed_after))
        for title, phones in asked:
            ask_everyone(session, community, phones, title, now)
    return community_id


def ask_everyone(
    session: Session, community: Community, phones: Sequence[str], title: str, now: datetime
) -> None:
    """A shift in three hours and an open call-out for it that asked these volunteers (its
    only wave, as if sent), so that a bare YES from any of them answers it."""
    shift = add_shift(
        session,
        community,
        title=title,
        place="School gym",
        starts_at=now + timedelta(hours=3),
        ends_at=now + timedelta(hours=6),
        capacity=CAPACITY,
    )
    callout = CallOut(
        community_id=community.id,
        shift_id=shift.id,
        need=CAPACITY,
        text="Bring gloves.",
        status=CallOutStatus.OPEN,
        filled=0,
        waves_sent=1,  # no later wave is scheduled: everyone is asked already
    )
    session.add(callout)
    session.flush()
    asked = (Volunteer.community_id == community.id, Volunteer.phone.in_(phones))
    question = {
        "kind": ShiftQuestion.CALLOUT.value,
        "id": callout.id,
        "expires_at": shift.ends_at.isoformat(),
    }
    session.execute(
        update(Volunteer)
        .where(*asked)
        .values(pending_question=question, last_asked_at=now)
        .execution_options(synchronize_session=False)
    )
    ids = session.scalars(select(Volunteer.id).where(*asked)).all()
    session.execute(
        insert(CallOutAsk),
        [{"callout_id": callout.id, "volunteer_id": v, "wave": 1, "asked_at": now} for v in ids],
    )


def sign(plan: Plan, texts: Sequence[tuple[str, str]]) -> list[Outgoing]:
    signed = []
    for sender, text in texts:
        body, headers = plan.make(sender, text)
        signed.append(Outgoing(plan.sids[-1], sender, body, headers))
    return signed


# -- load --------------------------------------------------------------------------------------


def _open_loop_share(
    port: int,
    texts: Sequence[Outgoing],
    rate: float,
    t0: float,
    phase: str,
    share: int,
    shares: int,
) -> list[Posted]:
    """One load-generator process' share of an open loop: texts share, share + shares, ...
    each still sent at t0 + i / rate (``perf_counter`` is the machine's monotonic clock,
    the same in every process), over a connection of its own (``bench.open_loop``)."""
    mine = texts[share::shares]
    requests = [Request(INBOUND_PATH, text.body, text.headers) for text in mine]
    answers = post_all(
        port,
        requests,
        rate / shares,
        t0 + share / rate,
        timeout=TWILIO_TIMEOUT,
        stamp_header="X-Request-Start",
    )
    return [posted_from(answer, mine[answer.index], phase) for answer in answers]


def posted_from(answer: Answer, text: Outgoing, phase: str) -> Posted:
    """Classify one HTTP answer of the open loop: synchronous, deferred or bad."""
    verdict_, error = BAD, answer.error or f"HTTP {answer.status}: {answer.body[:80]!r}"
    if 200 <= answer.status < 300 and is_twiml(answer.body, need_message=False):
        verdict_ = SYNC if is_twiml(answer.body, need_message=True) else DEFERRED
        error = ""
    return Posted(
        text.sid,
        text.sender,
        phase,
        answer.scheduled,
        answer.started,
        answer.ended,
        answer.status,
        verdict_,
        error,
    )


def open_loop_processes(
    port: int,
    texts: Sequence[Outgoing],
    rate: float,
    t0: float,
    phase: str,
    processes: int,
) -> list[Posted]:
    """The open loop spread over ``processes`` forked load generators, each one thread with a
    selector (``bench.open_loop``): one process' loop falls behind its schedule when a
    CPU is not free the moment a text is due, and two seldom both are."""
    if processes <= 1:
        return _open_loop_share(port, texts, rate, t0, phase, 0, 1)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [
            pool.submit(_open_loop_share, port, texts, rate, t0, phase, share, processes)
            for share in range(processes)
        ]
        return [record for future in futures for record in future.result()]


def vacuum_unless_autovacuum(engine: Engine) -> None:
    """``VACUUM ANALYZE`` the database when the server's autovacuum is off (a CI server's
    setting; a production one has it on, and its naptime, a minute, is shorter than a
    drain): without it the surge's dead rows doubled PostgreSQL's CPU a text in the closed
    loop that follows (``bench/README.md``, 2026-12-07 afternoon)."""
    with engine.connect() as connection:
        if connection.scalar(sql("SHOW autovacuum")) == "on":
            return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sql("VACUUM ANALYZE"))
    print("vacuum:      the server's autovacuum is off: VACUUM ANALYZE before C again")


def wait_for_lanes(worker: subprocess.Popen[bytes], log_path: Path) -> None:
    """Until the worker's lane processes are ready (``workers.deferred_texts`` logs it): they
    import the app for a few seconds of CPU, which would otherwise be taken from C's closed
    loop."""
    deadline = time.monotonic() + LANES_TIMEOUT
    while LANES_READY not in log_path.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker's lanes did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(POLL_INTERVAL)


def wait_until_settled(factory: sessionmaker[Session], community_id: int, deadline: float) -> bool:
    """Wait until no inbound text waits to be processed and no reply waits to be sent (polled
    every 0.5 s), or the deadline (``time.perf_counter``) passes: True when settled."""
    # two counts, each read from an index of its rows only (the waiting texts' partial index,
    # the dispatch index's pending and sending rows), not from every message of the community
    unprocessed_query = select(func.count()).where(
        is_waiting(), Message.community_id == community_id
    )
    unsent_query = select(func.count()).where(
        Message.status.in_((MessageStatus.PENDING, MessageStatus.SENDING)),
        Message.kind == MessageKind.REPLY,
        Message.community_id == community_id,
    )
    while True:
        with factory() as session:
            unprocessed = int(session.scalar(unprocessed_query) or 0)
            unsent = int(session.scalar(unsent_query) or 0)
        if not unprocessed and not unsent:
            return True
        if time.perf_counter() > deadline:
            print(f"drain:       gave up waiting: {unprocessed} texts unprocessed, {unsent} unsent")
            return False
        time.sleep(POLL_INTERVAL)


def read_rows(
    factory: sessionmaker[Session], community_id: int
) -> tuple[list[Stored], list[Reply]]:
    """The community's inbound rows and its reply rows with their inbound text's MessageSid."""
    inbound = aliased(Message)
    with factory() as session:
        stored = [
            Stored(str(sid), int(id_))
            for sid, id_ in session.execute(
                select(Message.twilio_sid, Message.id).where(
                    Message.community_id == community_id, Message.direction == Direction.INBOUND
                )
            )
        ]
        replies = [
            Reply(int(id_), str(inbound_sid), provider_sid)
            for id_, inbound_sid, provider_sid in session.execute(
                select(Message.id, inbound.twilio_sid, Message.twilio_sid)
                .join(inbound, inbound.id == Message.reply_to_id)
                .where(Message.community_id == community_id, Message.kind == MessageKind.REPLY)
            )
        ]
    return stored, replies


# -- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    closed: Phase
    capacity: float
    figures: Figures
    sent_by_worker: int
    settled: bool
    posted: list[Posted]  # the surge's and the trickle's texts
    senders: int  # surge volunteers who texted
    closed_after: Phase | None  # C's closed loop again once the drain was over (informational)
    # CPU by part: the closed loop; the surge to its last HTTP answer; then to settled
    cpu_closed: Spent | None = None
    cpu_surge: Spent | None = None
    cpu_drain: Spent | None = None
    cpu_closed_after: Spent | None = None

    @property
    def capacity_after(self) -> float | None:
        """C measured again once the drain was over."""
        return None if self.closed_after is None else in_request_rate(self.closed_after)


def answered_in_request(phase: Phase) -> int:
    """A closed loop's texts answered with a <Message> (the rest are its errors)."""
    return phase.completed - phase.errors


def in_request_rate(phase: Phase) -> float:
    """A closed loop's texts answered in the request, per second: C."""
    return answered_in_request(phase) / phase.seconds


def measure(
    args: argparse.Namespace,
    target: Target,
    fake: FakeTwilioProcess,
    community_id: int,
    pools: Pools,
    tmpdir: Path,
) -> Result:
    env = app_env(target, fake.url, tmpdir, args.web_concurrency)
    env["HANDSUP_PACING"] = "on"
    if args.deferred_processes is not None:
        env["HANDSUP_DEFERRED_PROCESSES"] = str(args.deferred_processes)
    engine = make_engine(target.database_url)
    factory = make_session_factory(engine)
    redis = connect(target.redis_url)
    offset_before = time.time() - time.perf_counter()  # the fake's wall clock onto perf_counter
    plan = Plan(COMMUNITY_NUMBER, [], prefix="surge")
    warmup = [plan.make(phone, "HELP") for phone in pools.warmup]
    closed_texts = [plan.make(p, "YES") for p in pools.closed]
    closed_texts += [plan.make(p, "SHIFTS") for p in pools.closed]
    after = Plan(COMMUNITY_NUMBER, [], prefix="after")
    after_texts = [after.make(p, "YES") for p in pools.closed_after]
    after_texts += [after.make(p, "SHIFTS") for p in pools.closed_after]
    port = free_port()
    web_log, worker_log = tmpdir / "web.log", tmpdir / "worker.log"
    with (
        process([str(BIN / "handsup"), "worker"], env, worker_log) as worker,
        process(procfile_web_command(port), env, web_log) as web,
    ):
        wait_for_port(port, web, web_log)
        wait_until_idle(redis, worker, worker_log)
        wait_for_lanes(worker, worker_log)

        def parts() -> dict[str, list[int]]:
            return {
                "web": descendants(web.pid),
                "worker": descendants(worker.pid),
                "PostgreSQL": postgres_processes(engine),
                "fake Twilio": [fake.pid] if fake.pid is not None else [],
            }

        warm = closed_loop(port, warmup, 2, 30.0, need_message=True)
        if warm.errors:
            log_tail = web_log.read_text()[-3000:]
            raise SystemExit(f"warm-up failed: {warm.first_errors()}\n{log_tail}")
        before_closed = snapshot(parts)
        closed = closed_loop(port, closed_texts, args.clients, args.closed_duration, True)
        closed_end = snapshot(parts)
        capacity = in_request_rate(closed)
        if capacity <= 0:
            raise SystemExit(f"no synchronous answer in the closed loop: {closed.first_errors()}")
        rate = args.multiplier * capacity
        count = max(1, round(rate * args.duration))
        if rate >= args.sms_rate:
            print(f"warning:     the surge rate {rate:.0f}/s is not below --sms-rate")
        rng = random.Random(args.seed)
        # every sender texts at least twice (YES, SHIFTS) so that order is tested: all the
        # volunteers when 3 x C x duration is at least twice their number
        senders = pools.surge[: max(1, min(len(pools.surge), count // 2))]
        surge = sign(plan, schedule(senders, count, args.pair_share, rng))
        trickle = sign(plan, [(phone, "SHIFTS") for phone in pools.trickle])
        t0 = time.perf_counter() + START_DELAY
        surge_end = t0 + count / rate
        trickled: list[Posted] = []
        trickler = threading.Thread(
            target=lambda: trickled.extend(
                _open_loop_share(port, trickle, args.trickle_rate, surge_end, "trickle", 0, 1)
            ),
            daemon=True,
        )
        before_surge = snapshot(parts)  # the texts are signed: from here on, the surge's work
        trickler.start()
        surged = open_loop_processes(port, surge, rate, t0, "surge", args.load_processes)
        answered = snapshot(parts)
        trickler.join()
        deadline = t0 + DRAIN_SLACK * count / capacity + DRAIN_GRACE
        settled = wait_until_settled(factory, community_id, deadline)
        drained = snapshot(parts)
        sent = fake.messages()
        stored, replies = read_rows(factory, community_id)
        if worker.poll() is not None:
            raise SystemExit(f"worker exited:\n{worker_log.read_text()[-3000:]}")
        again = cpu_closed_after = None
        if settled and after_texts:  # the same closed loop again: did the machine's speed move?
            vacuum_unless_autovacuum(engine)
            before_again = snapshot(parts)
            again = closed_loop(port, after_texts, args.clients, args.closed_duration, True)
            cpu_closed_after = spent(before_again, snapshot(parts))
    engine.dispose()
    redis.close()
    clock_offset = (offset_before + time.time() - time.perf_counter()) / 2
    received = {str(m["sid"]): float(m["received_at"]) - clock_offset for m in sent}
    # posted: the warm-up, the closed loop's first texts (taken in order), surge and trickle
    closed_sids = plan.sids[len(warmup) : len(warmup) + closed.completed]
    posted = plan.sids[: len(warmup)] + closed_sids + [t.sid for t in surge + trickle]
    result = figures(
        capacity, rate, surged + trickled, posted, stored, replies, received, surge_end
    )
    return Result(
        closed,
        capacity,
        result,
        len(sent),
        settled,
        surged + trickled,
        len(senders),
        again,
        spent(before_closed, closed_end),
        spent(before_surge, answered),
        spent(answered, drained),
        cpu_closed_after,
    )


# -- report ------------------------------------------------------------------------------------


def report(args: argparse.Namespace, result: Result) -> bool:
    f = result.figures
    closed = result.closed
    print(phase_line(closed))
    others = f"; not synchronous: {closed.first_errors()}" if closed.errors else ""
    print(
        f"capacity:    C = {result.capacity:.1f} texts/s answered synchronously "
        f"({answered_in_request(closed)} of {closed.completed}{others})"
    )
    if result.capacity_after is not None:
        print(
            f"             and {result.capacity_after:.1f}/s in the same closed loop once the "
            f"drain was over ({result.capacity_after / result.capacity:.2f} x C; informational, "
            "the bound uses C)"
        )
    print(
        f"surge:       offered {args.multiplier:g} x C = {f.offered:.1f}/s for {args.duration:g} s"
        f" = {f.surge_texts} texts from {result.senders} of {args.volunteers} volunteers; sent at "
        f"{f.sent_rate:.1f}/s"
    )
    if f.sent_rate < 0.95 * f.offered:
        print(
            "warning:     sent below the offered rate: the load generator fell behind its "
            "schedule (--load-processes)"
        )
    print(
        f"answers:     synchronous {f.sync}, deferred {f.deferred} ({f.deferred_share:.1%}), "
        f"non-2xx or none {f.surge_texts - f.sync - f.deferred}; HTTP latency from each "
        f"text's moment: p50 {f.p50 * 1000:.1f} ms, p99 {f.p99 * 1000:.1f} ms, "
        f"max {f.max_latency * 1000:.1f} ms"
    )
    print(
        f"  of which:  request to answer p99 {f.wire_p99 * 1000:.1f} ms; sent after its "
        f"moment p99 {f.late_p99 * 1000:.1f} ms (the load generator behind)"
    )
    for piece in timeline([t for t in result.posted if t.phase == "surge"]):
        print(
            f"  {piece.start:4.0f} s:    {piece.texts:5d} texts, {piece.sync:4d} synchronous; "
            f"p50 {piece.p50 * 1000:7.1f} ms, p99 {piece.p99 * 1000:7.1f} ms"
        )
    drain = "never" if f.drain is None else f"{f.drain:.1f} s"
    # the surge's texts per second from its first text to their last answer, and the bound's
    rate = "" if not f.drain else f"{f.surge_texts / f.drain:.1f} texts/s against "
    print(
        f"drain:       last answer {drain} after the first text (bound {f.bound:.1f} s: "
        f"{rate}{f.surge_texts / f.bound:.1f} needed); "
        f"the fake Twilio received {result.sent_by_worker} REST sends"
        f"{'' if result.settled else '; NOT SETTLED'}"
    )
    report_cpu(result)
    resync = "never" if f.resync is None else f"{f.resync:.1f} s"
    trickle_async = sum(1 for t in result.posted if t.phase == "trickle" and t.answer != SYNC)
    print(
        f"resync:      {f.trickle_texts} trickle texts at {args.trickle_rate:g}/s from the surge's "
        f"end, {trickle_async} not synchronous: synchronous for good {resync} after it"
    )
    for text in f.non_2xx[:3]:
        print(f"  non-2xx:   {text.phase} {text.sid} after {text.latency:.1f} s: {text.error}")
    posted = {t.sid: f"{t.phase}: {t.error or t.answer}" for t in result.posted}
    for sid in f.missing[:3]:
        print(f"  missing:   {sid} {posted.get(sid, '(warm-up or closed loop)')}")
    for sid in f.unanswered[:3]:
        print(f"  unanswered: {sid}")
    for violation in f.violations[:3]:
        print(
            f"  order:     {violation.sender}: {violation.later} {violation.reason} before "
            f"{violation.earlier}"
        )
    passed = True
    for v in verdicts(f):
        print(f"target:      {v.target}: {verdict(v.ok)} ({v.detail})")
        passed = passed and v.ok
    return passed


def report_cpu(result: Result) -> None:
    """CPU a text by part, and the machine's busy share: whether the drain was bound by the
    CPU, and how much more a deferred text cost HandsUp than a synchronous one."""
    closed, surge, drain = result.cpu_closed, result.cpu_surge, result.cpu_drain
    if closed is None or surge is None or drain is None:
        return
    answered = answered_in_request(result.closed)
    texts = result.figures.surge_texts
    whole = joined(surge, drain)
    names = " / ".join(closed.by_part)
    print(f"cpu:         ms a text, {names} (user + system, /proc)")
    print(f"  closed loop:      {closed.line(answered)}")
    print(f"  surge:            {surge.line(texts)} (to its last HTTP answer)")
    print(f"  drain after it:   {drain.line(texts)}")
    print(f"  surge to settled: {whole.line(texts)}")
    sync, deferred = handsup_ms(closed, answered), handsup_ms(whole, texts)
    if sync:
        print(
            f"  HandsUp's own processes (web, worker, PostgreSQL): {deferred:.2f} ms a surge "
            f"text against {sync:.2f} ms a synchronous one ({deferred / sync:.2f} x; the "
            f"{LOAD} and the fake Twilio are the bench's)"
        )
    after = result.cpu_closed_after
    if after is not None and result.closed_after is not None:
        again = answered_in_request(result.closed_after)
        print(f"  closed loop after the drain: {after.line(again)}")
        before_ms, after_ms = (
            ms_each(closed.by_part["web"], answered),
            ms_each(after.by_part["web"], again),
        )
        print(
            f"  the web's CPU a synchronous text, C then C again: {before_ms:.2f} -> "
            f"{after_ms:.2f} ms ({after_ms / before_ms:.2f} x): the same work, so a ratio far "
            "from 1 is the machine's speed moving within the run"
        )


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.surge",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--volunteers", type=int, default=VOLUNTEERS, help="surge volunteers (5000)")
    add("--duration", type=float, default=30.0, help="surge seconds (30)")
    add("--multiplier", type=float, default=3.0, help="surge rate as a multiple of C (3)")
    add("--clients", type=int, default=8, help="closed loop clients (8)")
    add("--closed-duration", type=float, default=10.0, help="closed loop seconds (10)")
    add("--latency", type=float, default=0.2, help="seconds the fake Twilio takes per send")
    add("--jitter", type=float, help="+/- seconds on each send's latency (default: latency / 4)")
    add("--sms-rate", type=float, default=2000.0, help="the sender's messages/s (2000)")
    add("--trickle-rate", type=float, default=2.0, help="texts/s after the surge (2)")
    add("--trickle-duration", type=float, default=20.0, help="seconds of trickle (20)")
    add(
        "--load-processes",
        type=int,
        default=2,
        help="load generator processes the surge's texts are spread over (2)",
    )
    add("--pair-share", type=float, default=0.25, help="share of texts sent as back-to-back pairs")
    add("--seed", type=int, default=18, help="the schedule's random seed")
    add("--web-concurrency", type=int, help="WEB_CONCURRENCY for gunicorn")
    add(
        "--deferred-processes",
        type=int,
        help="HANDSUP_DEFERRED_PROCESSES for the worker (default: the worker's own)",
    )
    add("--database-url", help=f"default: BENCH_DATABASE_URL, {DEFAULT_DATABASE_URL}")
    add("--redis-url", help=f"default: BENCH_REDIS_URL, {DEFAULT_REDIS_URL}")
    add("--check", action="store_true", help="exit 1 when a target fails")
    add(
        "--keep-logs",
        metavar="DIR",
        help="keep the web's and the worker's logs in DIR (JSON lines; each request's "
        "duration_ms), to see what the web or the lanes did in a slow stretch",
    )
    args = parser.parse_args(argv)
    positive = (args.volunteers, args.duration, args.multiplier, args.clients)
    if min(positive) <= 0 or args.closed_duration <= 0 or args.sms_rate <= 0:
        parser.error("sizes, durations and rates must be positive")
    if args.load_processes < 1:
        parser.error("--load-processes must be at least 1")
    if args.trickle_rate <= 0 or args.trickle_duration <= 0:
        parser.error("--trickle-rate and --trickle-duration must be positive")
    if not 0 <= args.pair_share <= 1:
        parser.error("--pair-share must be between 0 and 1")
    if not args.latency >= 0 or (args.jitter is not None and not 0 <= args.jitter <= args.latency):
        parser.error("--latency must be >= 0 and --jitter between 0 and --latency")
    if args.jitter is None:
        args.jitter = args.latency / 4
    return args


def run(args: argparse.Namespace, tmpdir: Path) -> bool:
    database_url = normalize_database_url(
        args.database_url or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    redis_url = args.redis_url or os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL
    check_urls(database_url, redis_url)
    if not database_url.startswith("postgresql"):
        raise SystemExit("bench.surge runs against PostgreSQL (--database-url)")
    prepare_database(database_url)
    redis = connect(redis_url)
    redis.flushdb()
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    trickle = max(1, round(args.trickle_rate * args.trickle_duration))
    pools = Pools(
        surge=phones_for(args.volunteers, area="303"),
        closed=phones_for(CLOSED_VOLUNTEERS, area="720"),
        trickle=phones_for(trickle, area="970"),
        warmup=phones_for(WARMUP_TEXTS, area="404"),
        closed_after=phones_for(CLOSED_VOLUNTEERS, area="719"),
    )
    community_id = seed(factory, pools, args.sms_rate)
    analyze(engine)
    print(environment_line(engine, args))
    engine.dispose()
    print(f"web command: {shlex.join(procfile_web_command(0))} (port filled in)")
    print(
        f"setup:       {args.volunteers} surge volunteers, {CLOSED_VOLUNTEERS} for the closed "
        f"loop and {CLOSED_VOLUNTEERS} for it again after the drain, {trickle} for the "
        f"trickle; SMS sender paced at {args.sms_rate:g}/s; fake Twilio "
        f"{args.latency * 1000:.0f} +/- {args.jitter * 1000:.0f} ms; 1 handsup worker"
        + (
            f" with {args.deferred_processes} lane processes"
            if args.deferred_processes is not None
            else ""
        )
    )
    target = Target(database_url, redis_url)
    with FakeTwilioProcess(
        ACCOUNT_SID, AUTH_TOKEN, latency=args.latency, jitter=args.jitter
    ) as fake:
        result = measure(args, target, fake, community_id, pools, tmpdir)
    redis.flushdb()
    redis.close()
    return report(args, result)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.keep_logs:
        kept = Path(args.keep_logs)
        kept.mkdir(parents=True, exist_ok=True)
        passed = run(args, kept)
        print(f"logs:        {kept / 'web.log'}, {kept / 'worker.log'}")
    else:
        with tempfile.TemporaryDirectory(prefix="handsup-surge-") as tmp:
            passed = run(args, Path(tmp))
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
