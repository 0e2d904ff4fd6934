"""Query bounds of the inbound webhook: one signed ``POST /twilio/inbound`` runs a small, fixed
number of SQL statements for each typical text, whether the community has 5 or 500 volunteers
(bounded, not growing with the data), and on PostgreSQL none of its SELECTs needs a Seq Scan on
``messages`` or ``volunteers``.

Statements are counted with a ``before_cursor_execute`` listener on the app's engine
(``app.extensions["handsup"].engine``), so the count covers the whole request: the inbound
store, the flow step, its effects, the replies and the outbox kick after the commit.

The Seq Scan rule (PostgreSQL only, skipped on SQLite): the captured SELECTs are EXPLAINed after
``ANALYZE`` with ``enable_seqscan`` off. With the planner told to avoid sequential scans, a
``Seq Scan`` node can only appear when no index can serve the query, which is what would make it
slow on a message log of millions of rows; the test data is small, so a plain EXPLAIN would
rightly prefer scanning a one-page table and prove nothing. Only ``messages`` and
``volunteers`` (the tables that grow with a deployment's traffic and membership) are checked:
small per-community tables (communities, channels, shifts, rosters, callouts) may be scanned.
INSERT, UPDATE and DELETE statements are not EXPLAINed (they address rows by primary key or by
the WHERE of a SELECT that is).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, event, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import SESSION_LIFETIME, VolunteerStatus
from service import clock
from service.communities.registry import create_community
from service.conversations import destinations
from service.db import unit_of_work
from service.models import CallOutAsk, Community, ConversationSession, Volunteer
from service.rosters import callouts
from service.rosters import shifts as rosters
from tests.conftest import COMMUNITY_NUMBER, SmsHelper

# The most statements one inbound webhook may run, per text, counting everything in the request
# (on SQLite one of them is BEGIN IMMEDIATE). Measured on 2026-12-07, SQLite / PostgreSQL, in
# the comments (one transaction per text: store, step and replies commit together). Each bound
# is the measured figure (issue 18: keep them tight; a new statement is argued for here). With
# the destination cache warm, as in production, each text runs one fewer on SQLite and as many
# on PostgreSQL (``test_a_warm_destination_cache_saves_the_destination_query``). The
# conversation is read with the volunteer's locking statement, an answer's cleared question
# goes with the volunteer's one UPDATE, a claim takes its place and its number in one UPDATE,
# and a reminder is planned with one INSERT ... ON CONFLICT (each one fewer since 2026-12-04);
# the text is stored as answered, from its volunteer, so its answer sends no UPDATE of it (one
# fewer since 2026-12-07, except for a stranger's JOIN and a text flagged for a coordinator).
BOUNDS = {
    "join": 12,  # 12 / 11: JOIN from an unknown number: store, create the volunteer, prompt
    "name": 7,  # 7 / 6: the name during onboarding
    "consent": 9,  # 9 / 8: YES to the consent question: active, consent record
    "shifts": 8,  # 8 / 7: SHIFTS: the numbered menu of open shifts
    "menu": 11,  # 11 / 10: "1" after SHIFTS: claim the place, plan its reminders
    "callout_yes": 16,  # 16 / 15: YES to an open call-out: fill, claim, plan reminders
    "callout_again": 6,  # 6 / 5: the same YES again (most of a call-out storm): "already"
    "unknown": 7,  # 7 / 6: a text no flow understands (flagged for a coordinator)
    "stop": 9,  # 9 / 8: STOP: opt out, give places back, one confirmation
}
SIZES = (5, 500)
NEWCOMER = "+12025559900"
SECOND_NUMBER = "+12025550300"
TABLES_THAT_GROW = ("messages", "volunteers")
WRITES = ("INSERT", "UPDATE", "DELETE")


@dataclass
class Recorder:
    """Every statement the engine executes while ``active`` is set."""

    active: bool = False
    statements: list[tuple[str, Any]] = field(default_factory=list)

    def __call__(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if self.active:
            self.statements.append((statement, parameters))


@dataclass(frozen=True)
class Request:
    key: str
    statements: list[tuple[str, Any]]
    replies: list[str]


@pytest.fixture
def recorder(app: Flask) -> Iterator[Recorder]:
    engine: Engine = app.extensions["handsup"].engine
    listener = Recorder()
    event.listen(engine, "before_cursor_execute", listener)
    yield listener
    event.remove(engine, "before_cursor_execute", listener)


def member_phone(n: int) -> str:
    return f"+1303555{n:04d}"


def seed(factory: sessionmaker[Session], community: Community, volunteers: int) -> None:
    """``volunteers`` active members, a shift in two days, and one in three hours (50 places
    each) with an open call-out whose ask reached member 0 (the least recently asked)."""
    now = datetime.now(UTC)
    rows = [
        {
            "community_id": community.id,
            "phone": member_phone(n),
            "name": f"Member {n}",
            "language": "en",
            "status": VolunteerStatus.ACTIVE,
            "consent_at": now,
            "consent_source": "test",
            "sms_consent_at": now,
            "last_asked_at": now - timedelta(days=30) if n == 0 else now,
        }
        for n in range(volunteers)
    ]
    with unit_of_work(factory) as session:
        session.execute(insert(Volunteer), rows)
        place = session.get_one(Community, community.id)
        rosters.add_shift(
            session,
            place,
            title="Sandbags",
            place="School gym",
            starts_at=now + timedelta(days=2),
            ends_at=now + timedelta(days=2, hours=3),
            capacity=50,
        )
        urgent = rosters.add_shift(
            session,
            place,
            title="Evacuation",
            place="Elm St",
            starts_at=now + timedelta(hours=3),
            ends_at=now + timedelta(hours=6),
            capacity=50,
        )
        callout = callouts.start_callout(session, urgent, place, 1, "Bring boots.", now)
        asked = session.scalars(
            select(CallOutAsk.volunteer_id).where(CallOutAsk.callout_id == callout.id)
        ).all()
        first = session.scalar(
            select(Volunteer.id).where(
                Volunteer.community_id == place.id, Volunteer.phone == member_phone(0)
            )
        )
        assert first in asked


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))


def run_texts(sms: SmsHelper, recorder: Recorder, to: str = COMMUNITY_NUMBER) -> list[Request]:
    """The typical texts to the community at ``to``, each one webhook, recorded one by one."""
    script = [
        ("join", NEWCOMER, "JOIN"),
        ("name", NEWCOMER, "Maria"),
        ("consent", NEWCOMER, "YES"),
        ("shifts", member_phone(1), "SHIFTS"),
        ("menu", member_phone(1), "1"),
        ("callout_yes", member_phone(0), "YES"),
        ("callout_again", member_phone(0), "YES"),
        ("unknown", member_phone(2), "banana bread"),
        ("stop", member_phone(3), "STOP"),
    ]
    requests = []
    for key, sender, body in script:
        recorder.statements = []
        recorder.active = True
        try:
            replies = sms.send(sender, body, to=to)
        finally:
            recorder.active = False
        requests.append(Request(key, recorder.statements, replies))
    return requests


def check_replies(requests: list[Request]) -> None:
    """The texts did what they are meant to (so the counts are of the real paths)."""
    by_key = {r.key: r.replies for r in requests}
    assert "Welcome" in by_key["consent"][0]
    assert "Evacuation" in " ".join(by_key["shifts"])
    assert "Sandbags" in " ".join(by_key["shifts"])
    assert "Evacuation" in " ".join(by_key["menu"])  # the first in the menu: soonest
    assert "Evacuation" in " ".join(by_key["callout_yes"])
    assert "already" in " ".join(by_key["callout_again"])
    assert by_key["stop"]


@pytest.fixture(params=SIZES, ids=[f"{n}-volunteers" for n in SIZES])
def requests_for_size(
    request: pytest.FixtureRequest,
    app: Flask,
    sms: SmsHelper,
    session_factory: sessionmaker[Session],
    community: Community,
    recorder: Recorder,
) -> tuple[int, list[Request]]:
    size: int = request.param
    seed(session_factory, community, size)
    analyze(app.extensions["handsup"].engine)
    requests = run_texts(sms, recorder)
    check_replies(requests)
    return size, requests


def test_each_inbound_text_runs_a_bounded_number_of_statements(
    requests_for_size: tuple[int, list[Request]],
) -> None:
    size, requests = requests_for_size
    counts = {r.key: len(r.statements) for r in requests}
    over = {key: (n, BOUNDS[key]) for key, n in counts.items() if n > BOUNDS[key]}
    assert not over, f"{size} volunteers: statements (count, bound) over the bound: {over}"


def test_statement_counts_do_not_grow_with_the_community(
    app: Flask,
    sms: SmsHelper,
    session_factory: sessionmaker[Session],
    community: Community,
    recorder: Recorder,
) -> None:
    """The same texts to a community of 5, then to a second one of 500 in the same database:
    the same number of statements for each text."""
    with unit_of_work(session_factory) as session:
        large = create_community(
            session,
            name="Hillside Food Circle",
            slug="hillside",
            number=SECOND_NUMBER,
            country="US",
            timezone="America/New_York",
            help_contact="+12025550143",
        )
        large.quiet_start_minute = large.quiet_end_minute = 0
    counts: list[dict[str, int]] = []
    for place, size, number in ((community, 5, COMMUNITY_NUMBER), (large, 500, SECOND_NUMBER)):
        seed(session_factory, place, size)
        analyze(app.extensions["handsup"].engine)
        requests = run_texts(sms, recorder, to=number)
        check_replies(requests)
        counts.append({r.key: len(r.statements) for r in requests})
    small_counts, large_counts = counts
    assert large_counts == small_counts, f"5: {small_counts}; 500: {large_counts}"


def seq_scans(plan: Any) -> list[str]:
    """Relations a JSON plan (or any node of it) reads with a Seq Scan."""
    found: list[str] = []
    if isinstance(plan, dict):
        if plan.get("Node Type") == "Seq Scan":
            found.append(str(plan.get("Relation Name")))
        for value in plan.values():
            found.extend(seq_scans(value))
    elif isinstance(plan, list):
        for item in plan:
            found.extend(seq_scans(item))
    return found


def test_inbound_selects_use_indexes_on_postgres(
    app: Flask, requests_for_size: tuple[int, list[Request]]
) -> None:
    engine: Engine = app.extensions["handsup"].engine
    if engine.dialect.name != "postgresql":
        pytest.skip("EXPLAIN plans are checked on PostgreSQL (TEST_DATABASE_URL)")
    size, requests = requests_for_size
    analyze(engine)
    offenders: list[str] = []
    explained = 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET enable_seqscan = off")
        for request in requests:
            for statement, parameters in request.statements:
                words = statement.lstrip().split(None, 1)
                if not words or words[0].upper() in WRITES or words[0].upper() != "SELECT":
                    continue
                cursor.execute(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
                row = cursor.fetchone()
                assert row is not None
                plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])
                explained += 1
                scanned = [t for t in seq_scans(plan) if t in TABLES_THAT_GROW]
                if scanned:
                    offenders.append(f"{request.key}: Seq Scan on {scanned}: {statement}")
        cursor.execute("RESET enable_seqscan")
        raw.rollback()
    finally:
        raw.close()
    assert explained >= len(requests)
    assert not offenders, f"{size} volunteers:\n" + "\n".join(offenders)


def test_a_warm_destination_cache_saves_the_destination_query(
    app: Flask,
    sms: SmsHelper,
    session_factory: sessionmaker[Session],
    community: Community,
    recorder: Recorder,
) -> None:
    """As in production (``create_app`` outside tests turns the cache on): once the process
    has read the channel texted, no text reads channels or communities again. On SQLite that
    is one statement fewer than the bound; on PostgreSQL the sender's advisory lock, a column
    of the destination query, runs alone instead (PostgreSQL's figures are one below SQLite's
    BEGIN IMMEDIATE, so the same bound holds)."""
    destinations.cache_destinations(app.extensions["handsup"].engine, ttl=3600.0)
    seed(session_factory, community, 5)
    sms.send(member_phone(4), "HELP")  # reads the destination and the service numbers
    requests = run_texts(sms, recorder)
    check_replies(requests)
    counts = {r.key: len(r.statements) for r in requests}
    over = {key: (n, BOUNDS[key] - 1) for key, n in counts.items() if n > BOUNDS[key] - 1}
    assert not over, f"statements (count, bound) over the bound: {over}"
    assert not any("FROM channels" in s for r in requests for s, _ in r.statements)


def test_a_repeat_answer_leaves_the_unit_of_work_nothing_to_write(
    app: Flask, sms: SmsHelper, session_factory: sessionmaker[Session], community: Community
) -> None:
    """Most texts of a call-out storm change nothing of the volunteer (a second YES, SHIFTS
    again): their step sets no attribute to its own value, so the commit skips the unit of
    work's flush (which compared every column of each row so touched: a seventh of a repeat
    text's instructions, ``bench.webhook_instructions``). Writes go as statements of their
    own (the stored text, its replies, the conversation)."""
    seed(session_factory, community, 5)
    flushed: list[list[str]] = []

    def record(session: Session, context: object, instances: object) -> None:
        flushed.append(sorted(type(o).__name__ for o in (*session.dirty, *session.new)))

    event.listen(Session, "before_flush", record)
    try:
        answers = {}
        for sender, body in ((member_phone(0), "YES"), (member_phone(1), "SHIFTS")):
            sms.send(sender, body)  # the first: a place taken, a preferred channel set
            flushed.clear()
            answers[body] = " ".join(sms.send(sender, body))
            assert flushed == [], f"{body} again flushed {flushed}"
    finally:
        event.remove(Session, "before_flush", record)
    assert "already" in answers["YES"]
    assert "Evacuation" in answers["SHIFTS"]


def test_a_renewal_of_under_an_hour_leaves_the_conversation_unwritten(
    sms: SmsHelper, session_factory: sessionmaker[Session], community: Community
) -> None:
    """A text that only renews an unchanged conversation's lifetime (a second YES to a
    call-out) moves its expiry only once that would move it by an hour or more: most texts of
    a storm then write no conversation row, and a conversation lasts 23 to 24 hours after its
    last text."""
    seed(session_factory, community, 5)
    start = datetime.now(UTC).replace(microsecond=0)

    def expiry() -> datetime | None:
        with session_factory() as session:
            return session.scalar(
                select(ConversationSession.expires_at)
                .join(Volunteer, Volunteer.id == ConversationSession.volunteer_id)
                .where(Volunteer.phone == member_phone(0))
            )

    try:
        clock.freeze(start)
        sms.send(member_phone(0), "YES")
        first = expiry()
        assert first == start + SESSION_LIFETIME
        clock.freeze(start + timedelta(minutes=59))
        assert "already" in " ".join(sms.send(member_phone(0), "YES"))
        assert expiry() == first  # renewed by 59 minutes: not written
        clock.freeze(start + timedelta(minutes=61))
        assert "already" in " ".join(sms.send(member_phone(0), "YES"))
        assert expiry() == start + timedelta(minutes=61) + SESSION_LIFETIME
    finally:
        clock.freeze(None)
