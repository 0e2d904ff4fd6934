"""Surge deferral (issue 18): under surge the webhook stores the text and acknowledges with an
empty TwiML; a worker runs the step and sends the reply through the send gate. Each
volunteer's texts are answered in the order they were stored, each exactly once, an opt-out
is applied at the moment of its text, and once the surge passes answers are synchronous again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session, sessionmaker

from flows import conversation
from flows.engine import VolunteerStatus
from service.conversations import deferred, inbound
from service.conversations.surge import (
    ENTER_AT,
    HOLD,
    LEAVE_AT,
    SurgeGauge,
    queued_too_long,
)
from service.models import Community, Direction, Message, MessageKind, MessageStatus, Volunteer
from service.sending import outbox
from service.web.extensions import resources
from tests.conftest import DEADLINE, SmsHelper, count_messages, wait_until
from tests.fakes.twilio_server import FakeTwilio
from workers.deferred_texts import DeferredTexts, answer_lane
from workers.runtime import Runtime
from workers.worker import HandsUpWorker, run_burst

ANA = "+12025550123"
BEN = "+12025550124"
CAL = "+12025550125"


@pytest.fixture
def surge(app: Flask) -> Iterator[SurgeGauge]:
    """Every webhook of this app finds the process in surge."""
    gauge = resources(app).surge
    resources(app).surge = SurgeGauge(enter_at=1, leave_at=0)
    yield resources(app).surge
    resources(app).surge = gauge


def answer(worker: Runtime, redis: Redis) -> None:
    """What the worker process does: answer the deferred texts, send what is due."""
    run_burst(worker, HandsUpWorker(list(outbox.QUEUES), connection=redis))


def inbound_rows(db: Session, phone: str) -> list[Message]:
    db.expire_all()
    return list(
        db.scalars(
            select(Message)
            .where(Message.direction == Direction.INBOUND, Message.from_address == phone)
            .order_by(Message.id)
        )
    )


def reply_to(db: Session, message: Message) -> Message:
    """The one reply row stored for an inbound text."""
    return db.scalars(select(Message).where(Message.reply_to_id == message.id)).one()


def bodies_to(fake: FakeTwilio, phone: str) -> list[str]:
    return [m.body for m in fake.sent_to(phone)]


def test_under_surge_the_text_is_stored_acknowledged_and_answered_by_the_worker(
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    redis: Redis,
    worker: Runtime,
    fake_twilio: FakeTwilio,
) -> None:
    reply = sms.post("/twilio/inbound", sms.form(ANA, "JOIN"))
    assert reply.status == 200 and reply.texts == [] and "<Response" in reply.raw
    (stored,) = inbound_rows(db, ANA)
    assert stored.status == MessageStatus.RECEIVED
    assert redis.llen(deferred.WAKE_KEY) == 1  # a waiting worker is woken at once
    assert fake_twilio.messages == []

    answer(worker, redis)

    (stored,) = inbound_rows(db, ANA)
    assert stored.status == MessageStatus.PROCESSED
    assert bodies_to(fake_twilio, ANA) == [
        "Hi! Thanks for texting Riverside Flood Crew about volunteering. What is your name? "
        "Reply with your name, or text STOP to opt out."
    ]
    reply_row = reply_to(db, stored)
    assert reply_row.kind == MessageKind.REPLY
    assert reply_row.status in (MessageStatus.QUEUED, MessageStatus.SENT)
    assert reply_row.twilio_sid == fake_twilio.sent_to(ANA)[0].sid


def test_a_whole_onboarding_under_surge_reads_like_the_synchronous_one(
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    redis: Redis,
    worker: Runtime,
    fake_twilio: FakeTwilio,
) -> None:
    for text in ("JOIN", "Ana", "YES"):
        assert sms.send(ANA, text) == []
    answer(worker, redis)
    texts = bodies_to(fake_twilio, ANA)
    assert len(texts) == 3
    assert "What is your name?" in texts[0]
    assert texts[1].startswith("Thanks Ana.")
    assert texts[2].startswith("Welcome, Ana!")
    ana = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    assert ana.status == VolunteerStatus.ACTIVE


class EnteredOnTheWay(SurgeGauge):
    """Each request begins before the surge (answered in the request) and finds its process
    in surge by the time it reaches its step."""

    @contextmanager
    def track(self, waited_too_long: bool = False) -> Iterator[bool]:
        yield False

    def is_surging(self) -> bool:
        return True


def test_a_text_whose_request_began_before_the_surge_is_left_for_a_worker_before_its_step(
    app: Flask,
    sms: SmsHelper,
    db: Session,
    redis: Redis,
    worker: Runtime,
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resources(app), "surge", EnteredOnTheWay())
    reply = sms.post("/twilio/inbound", sms.form(ANA, "JOIN"))
    assert reply.status == 200 and reply.texts == []
    (stored,) = inbound_rows(db, ANA)
    assert stored.status == MessageStatus.RECEIVED
    assert redis.llen(deferred.WAKE_KEY) == 1
    stop = sms.send(BEN, "STOP")  # an opt-out is applied at the moment of its text
    assert len(stop) == 1
    assert [m.status for m in inbound_rows(db, BEN)] == [MessageStatus.PROCESSED]

    answer(worker, redis)

    assert inbound_rows(db, ANA)[0].status == MessageStatus.PROCESSED
    assert "What is your name?" in bodies_to(fake_twilio, ANA)[0]
    assert fake_twilio.sent_to(BEN) == []


def test_a_later_text_waits_behind_an_earlier_deferred_one_after_the_surge(
    app: Flask,
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    redis: Redis,
    worker: Runtime,
    fake_twilio: FakeTwilio,
) -> None:
    assert sms.send(ANA, "JOIN") == []  # deferred under surge
    resources(app).surge = SurgeGauge()  # the surge is over
    # Ana's second text would be answered now, but her first one is still waiting: it waits
    # too, and both are answered in order.
    assert sms.send(ANA, "Ana") == []
    assert [m.status for m in inbound_rows(db, ANA)] == [MessageStatus.RECEIVED] * 2
    # Someone without a waiting text is answered in the request again.
    assert "What is your name?" in sms.send(BEN, "JOIN")[0]

    answer(worker, redis)
    texts = bodies_to(fake_twilio, ANA)
    assert "What is your name?" in texts[0] and texts[1].startswith("Thanks Ana.")
    # Nothing waits any more: Ana's next text is answered synchronously.
    assert sms.send(ANA, "YES")[0].startswith("Welcome, Ana!")


def test_an_answer_in_the_request_waits_while_a_workers_reply_is_unsent(
    app: Flask,
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    session_factory: sessionmaker[Session],
    redis: Redis,
    worker: Runtime,
    fake_twilio: FakeTwilio,
) -> None:
    """The TwiML answer to a later text must not overtake the worker's reply to an earlier
    one: while that reply is unsent, the later text is deferred too."""
    assert sms.send(ANA, "JOIN") == []
    assert deferred.answer_waiting(session_factory, _now(), settle=timedelta(0)) == 1
    db.expire_all()
    unsent = db.scalars(select(Message).where(Message.kind == MessageKind.REPLY)).one()
    assert unsent.status == MessageStatus.PENDING
    resources(app).surge = SurgeGauge()  # the surge is over
    assert sms.send(ANA, "Ana") == []  # deferred: the name question is not sent yet
    # Stored as the intake stores a deferred text (the request had stored it as answered).
    waiting = inbound_rows(db, ANA)[-1]
    assert (waiting.status, waiting.processed_at, waiting.volunteer_id) == (
        MessageStatus.RECEIVED,
        None,
        None,
    )
    answer(worker, redis)
    ana = db.scalars(select(Volunteer.id).where(Volunteer.phone == ANA)).one()
    assert [(m.status, m.volunteer_id) for m in inbound_rows(db, ANA)] == [
        (MessageStatus.PROCESSED, ana)
    ] * 2
    texts = bodies_to(fake_twilio, ANA)
    assert "What is your name?" in texts[0] and texts[1].startswith("Thanks Ana.")
    assert sms.send(ANA, "YES")[0].startswith("Welcome, Ana!")  # nothing unsent: in the request


def test_lane_processes_answer_each_senders_texts_in_order(
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    session_factory: sessionmaker[Session],
    worker: Runtime,
) -> None:
    senders = [f"+1202555{n:04d}" for n in range(400, 410)]
    for text in ("JOIN", "Name", "YES"):
        for phone in senders:
            assert sms.send(phone, text) == []
    answered = deferred.answer_waiting(
        session_factory,
        _now(),
        settle=timedelta(0),
        pool=worker.deferred_pool,  # the worker's lane processes
        lanes=worker.deferred_lanes,
        answer_lane=answer_lane,
    )
    assert answered == 30
    for phone in senders:
        rows = inbound_rows(db, phone)
        replies = [reply_to(db, m) for m in rows]
        assert [r.body.split()[0] for r in replies] == ["Hi!", "Thanks", "Welcome,"]
        assert replies[0].id < replies[1].id < replies[2].id


def test_a_lane_that_finishes_takes_its_next_texts_while_another_lane_is_busy(
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    community: Community,
) -> None:
    """No barrier between turns: lane 1 answers one text a turn (``BATCH`` 1) three turns
    running while lane 0's first turn is held; lane 0 is let go only once lane 1 had its
    third turn, which could not happen if each turn waited for the slowest lane."""
    phones = [f"+1202555{n:04d}" for n in range(500, 600)]
    waiting = [inbound.WaitingText(0, community.id, phone) for phone in phones]
    slow = next(t.from_address for t in waiting if deferred.lane_of(t, 2) == 0)
    quick = [t.from_address for t in waiting if deferred.lane_of(t, 2) == 1][:3]
    for phone in [slow, *quick]:
        assert sms.send(phone, "JOIN") == []
    monkeypatch.setattr(deferred, "BATCH", 1)
    turns: list[list[str]] = []
    third_turn = threading.Event()

    def answer_lane(texts: list[inbound.WaitingText]) -> int:
        if texts[0].from_address == slow:
            assert third_turn.wait(DEADLINE), "lane 1 waited for lane 0's turn"
        turns.append([t.from_address for t in texts])
        if len([t for t in turns if t[0] in quick]) == 3:
            third_turn.set()
        return deferred.answer_in_order(session_factory, texts)

    handed = []
    with ThreadPoolExecutor(2) as pool:
        answered = deferred.answer_waiting(
            session_factory,
            _now(),
            settle=timedelta(0),
            pool=pool,
            lanes=2,
            answer_lane=answer_lane,
            after_lane=lambda: handed.append(len(turns)),
        )
    assert answered == 4
    assert sorted(map(tuple, turns[:3])) == sorted((phone,) for phone in quick)
    assert turns[3] == [slow]
    # the replies of each turn handed on as it ends (lane 0's may end before lane 1's third
    # is handed on: it is let go by that turn)
    assert len(handed) == 4 and handed[:2] == [1, 2] and handed[-1] == 4
    for phone in [slow, *quick]:
        assert [m.status for m in inbound_rows(db, phone)] == [MessageStatus.PROCESSED]


def test_a_senders_lane_is_the_same_in_every_process() -> None:
    """``lane_of`` is a CRC, not Python's ``hash`` (salted per process): lane processes
    and runs agree on it."""
    text = inbound.WaitingText(7, 3, "whatsapp:+12025550123")
    assert [deferred.lane_of(text, n) for n in (1, 2, 3, 4)] == [0, 1, 2, 3]


def test_stop_is_applied_at_once_under_surge_ahead_of_waiting_texts(
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    redis: Redis,
    worker: Runtime,
    fake_twilio: FakeTwilio,
) -> None:
    assert sms.send(ANA, "JOIN") == []
    stop = sms.send(ANA, "STOP")
    assert len(stop) == 1 and "START" in stop[0]  # confirmed in the request, not deferred
    ana = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    assert ana.status == VolunteerStatus.OPTED_OUT
    rows = inbound_rows(db, ANA)
    assert [m.status for m in rows] == [MessageStatus.RECEIVED, MessageStatus.PROCESSED]

    answer(worker, redis)
    # The earlier JOIN is processed, but nothing reaches someone who said STOP.
    assert inbound_rows(db, ANA)[0].status == MessageStatus.PROCESSED
    assert fake_twilio.sent_to(ANA) == []
    db.expire_all()
    assert db.get_one(Volunteer, ana.id).status == VolunteerStatus.OPTED_OUT


def test_a_retried_message_sid_is_stored_and_answered_once(
    app: Flask,
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    redis: Redis,
    worker: Runtime,
    fake_twilio: FakeTwilio,
) -> None:
    form = sms.form(ANA, "JOIN")
    assert sms.post("/twilio/inbound", form).texts == []
    assert sms.post("/twilio/inbound", form).texts == []  # Twilio's retry, still in surge
    assert count_messages(db, direction=Direction.INBOUND) == 1
    answer(worker, redis)
    answer(worker, redis)
    assert len(fake_twilio.sent_to(ANA)) == 1
    # A retry after the worker's answer (surge over) changes nothing: the reply went by the
    # send gate, so the TwiML answer does not repeat it.
    resources(app).surge = SurgeGauge()
    assert sms.post("/twilio/inbound", form).texts == []
    answer(worker, redis)
    assert len(fake_twilio.sent_to(ANA)) == 1


def test_a_retry_after_the_surge_answers_a_waiting_text_in_the_request_exactly_once(
    app: Flask,
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    redis: Redis,
    worker: Runtime,
    fake_twilio: FakeTwilio,
) -> None:
    form = sms.form(ANA, "JOIN")
    assert sms.post("/twilio/inbound", form).texts == []
    resources(app).surge = SurgeGauge()
    again = sms.post("/twilio/inbound", form)  # nothing earlier waits: answered now
    assert len(again.texts) == 1
    answer(worker, redis)  # the worker finds it answered
    assert fake_twilio.sent_to(ANA) == []
    assert count_messages(db, kind=MessageKind.REPLY) == 1


def test_workers_racing_for_the_same_texts_answer_each_once_and_in_order(
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    session_factory: sessionmaker[Session],
    worker: Runtime,
) -> None:
    """Four threads answer the same waiting texts at once (PostgreSQL row locks; SQLite's
    write lock): every text once, and each sender's replies in the order of its texts."""
    senders = [f"+1202555{n:04d}" for n in range(300, 312)]
    for text in ("JOIN", "Name"):
        for phone in senders:
            assert sms.send(phone, text) == []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            while deferred.answer_waiting(session_factory, _now(), settle=timedelta(0)):
                pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    db.expire_all()
    for phone in senders:
        rows = inbound_rows(db, phone)
        assert [m.status for m in rows] == [MessageStatus.PROCESSED] * 2
        replies = [reply_to(db, m) for m in rows]
        assert "What is your name?" in replies[0].body
        assert replies[1].body.startswith("Thanks Name.")
        assert replies[0].id < replies[1].id  # stepped in the order they were stored


def test_a_text_whose_step_fails_is_set_aside_for_coordinators_and_later_texts_go_on(
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert sms.send(ANA, "JOIN") == []
    assert sms.send(ANA, "Ana") == []
    real_step = conversation.step
    calls: list[str] = []

    def failing_first(context: Any, state: Any, text: str) -> Any:
        calls.append(text)
        if text == "JOIN":
            raise RuntimeError("a bug in a flow")
        return real_step(context, state, text)

    monkeypatch.setattr(conversation, "step", failing_first)
    assert deferred.answer_waiting(session_factory, _now(), settle=timedelta(0)) == 1
    first, second = inbound_rows(db, ANA)
    assert (first.status, first.attention) == (MessageStatus.PROCESSED, inbound.UNANSWERABLE)
    assert second.status == MessageStatus.PROCESSED
    assert calls == ["JOIN", "Ana"]


def test_texts_are_taken_once_they_have_settled(
    sms: SmsHelper, surge: SurgeGauge, db: Session, session_factory: sessionmaker[Session]
) -> None:
    assert sms.send(ANA, "JOIN") == []
    (row,) = inbound_rows(db, ANA)
    with session_factory() as session:
        assert deferred.waiting_ids(session, row.created_at) == []
        assert deferred.waiting_ids(session, row.created_at + deferred.SETTLE) == [row.id]


def test_the_worker_thread_answers_as_soon_as_the_webhook_wakes_it(
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    worker: Runtime,
    redis: Redis,
) -> None:
    texts = DeferredTexts()
    texts.start()
    try:
        assert sms.send(ANA, "JOIN") == []
        deadline = time.monotonic() + 60
        while inbound_rows(db, ANA)[0].status != MessageStatus.PROCESSED:
            assert time.monotonic() < deadline, "the deferred text was never answered"
            time.sleep(0.05)
        pending = db.scalars(select(Message).where(Message.kind == MessageKind.REPLY)).one()
        assert pending.status in (MessageStatus.PENDING, MessageStatus.SENDING) or (
            pending.enqueued_at is not None
        )
    finally:
        texts.stop()
        texts.join(timeout=10)
    assert not texts.is_alive()


def test_a_web_process_wakes_a_worker_once_per_wake_interval(redis: Redis) -> None:
    moment = [100.0]
    waker = deferred.Waker(every=0.25, clock=lambda: moment[0])
    waker.wake(redis)
    assert redis.llen(deferred.WAKE_KEY) == 1
    moment[0] += 0.125  # a second deferred text right after: the woken worker takes it too
    waker.wake(redis)
    assert redis.llen(deferred.WAKE_KEY) == 1
    moment[0] += 0.125
    waker.wake(redis)
    assert redis.llen(deferred.WAKE_KEY) == 2
    # a woken worker looks late enough that every text of the skipped wake-ups has settled
    settled_by = deferred.SETTLE.total_seconds() + deferred.WAKE_EVERY
    assert settled_by <= deferred.AFTER_WAKE


def lane_processes(worker: Runtime) -> list[Any]:
    """The worker's lane processes started so far (none before its pool is built)."""
    if "deferred_pool" not in worker.__dict__:
        return []
    # a copy first (one C-level step): the pool's thread adds processes as they spawn
    started = list(worker.deferred_pool._processes.values())
    return [p for p in started if p.is_alive()]


def test_the_lane_processes_are_started_and_ready_before_any_text(worker: Runtime) -> None:
    assert lane_processes(worker) == []
    worker.start_deferred_lanes()  # returns once each has answered a call
    assert len(lane_processes(worker)) == worker.deferred_lanes == 2


def test_the_worker_thread_starts_its_lane_processes_before_any_text_arrives(
    worker: Runtime,
) -> None:
    texts = DeferredTexts()
    texts.start()
    try:
        wait_until(
            lambda: len(lane_processes(worker)) == worker.deferred_lanes,
            "the lane processes were started",
        )
    finally:
        texts.stop()
        texts.join(timeout=DEADLINE)
    assert not texts.is_alive()


def test_lanes_that_cannot_start_are_tried_again_once_a_poll_not_in_a_tight_loop(
    worker: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tries: list[float] = []

    def broken(self: Runtime) -> None:
        tries.append(time.monotonic())
        raise BrokenProcessPool("a lane process died while starting")

    monkeypatch.setattr(Runtime, "start_deferred_lanes", broken)
    texts = DeferredTexts()
    texts.start()
    try:
        wait_until(lambda: len(tries) >= 2, "the lanes were tried again")
        time.sleep(deferred.POLL)  # a rate is asserted: a busy machine only makes it lower
    finally:
        texts.stop()
        texts.join(timeout=DEADLINE)
    assert not texts.is_alive()
    assert tries[1] - tries[0] >= deferred.POLL * 0.9
    assert len(tries) <= 4


def test_the_worker_thread_starts_new_lane_processes_when_one_dies(
    sms: SmsHelper, surge: SurgeGauge, db: Session, worker: Runtime
) -> None:
    texts = DeferredTexts()
    texts.start()
    try:
        assert sms.send(ANA, "JOIN") == []
        wait_until_processed(db, ANA)
        for process in list(worker.deferred_pool._processes.values()):
            process.kill()  # a lane process is killed (out of memory, say)
            process.join(timeout=30)
        assert sms.send(BEN, "JOIN") == []
        wait_until_processed(db, BEN)
    finally:
        texts.stop()
        texts.join(timeout=10)
    assert [m.status for m in inbound_rows(db, ANA) + inbound_rows(db, BEN)] == [
        MessageStatus.PROCESSED,
        MessageStatus.PROCESSED,
    ]


def test_the_waiting_texts_are_found_through_their_own_indexes_on_postgres(
    sms: SmsHelper, surge: SurgeGauge, db: Session
) -> None:
    """A backlog of 5,000 deferred texts: whether a sender has an earlier one waiting, which
    are the oldest, and whether a farewell to them is unsent, are read from partial indexes,
    not from every waiting row or every text of the community (each text cost time with the
    backlog), in the generic plan of a prepared statement too."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("plans are checked on PostgreSQL (TEST_DATABASE_URL)")
    assert sms.send(ANA, "JOIN") == []
    (first,) = inbound_rows(db, ANA)
    varied = {
        "from_address": "'+1303' || lpad(g::text, 7, '0')",
        "twilio_sid": "'SMbacklog' || g",
        "status": "CASE WHEN g % 2 = 0 THEN status ELSE 'processed' END",
    }
    copied = [c.name for c in Message.__table__.columns if c.name != "id"]
    values = ", ".join(varied.get(name, name) for name in copied)
    db.execute(  # copies of it from 5,000 other senders, and 5,000 answered texts
        sql(
            f"INSERT INTO messages ({', '.join(copied)}) SELECT {values}"
            " FROM messages, generate_series(1, 10000) AS g WHERE id = :id"
        ),
        {"id": first.id},
    )
    db.execute(sql("ANALYZE messages"))
    newest = db.scalar(select(func.max(Message.id)))
    assert newest is not None
    later = newest + 1  # ANA's next text, after the backlog
    earlier = select(inbound.WAITING_BEFORE).params(
        inbound.waiting_parameters(first.community_id, ANA, later)
    )
    oldest = deferred.waiting_statement(_now() + timedelta(minutes=1), deferred.SETTLE, 200)
    farewell = select(inbound.FAREWELL_UNSENT).params(
        inbound.waiting_parameters(first.community_id, ANA, later)
    )
    assert "ix_messages_waiting" in explain(db, earlier)
    assert "ix_messages_received" in explain(db, oldest)
    assert "ix_messages_farewell_unsent" in explain(db, farewell)
    db.rollback()


def explain(db: Session, statement: Any) -> str:
    """The generic plan PostgreSQL keeps for a prepared statement (psycopg prepares one on its
    fifth run), which must serve any value of its parameters."""
    dialect = db.get_bind().dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    names = list(compiled.params)
    sql = str(compiled)
    for number, name in enumerate(names, start=1):
        sql = sql.replace(f"%({name})s", f"${number}")
    connection = db.connection()
    connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    connection.exec_driver_sql(f"PREPARE explained AS {sql}")
    values = [getattr(compiled.params[name], "value", compiled.params[name]) for name in names]
    literals = ", ".join(str(v) if isinstance(v, int) else f"'{v}'" for v in values)
    plan = connection.exec_driver_sql(f"EXPLAIN EXECUTE explained({literals})")
    lines = "\n".join(plan.scalars())
    connection.exec_driver_sql("DEALLOCATE explained")
    return lines


def wait_until_processed(db: Session, phone: str) -> None:
    """Wait on progress until the sender's texts are all answered."""
    wait_until(
        lambda: all(m.status == MessageStatus.PROCESSED for m in inbound_rows(db, phone)),
        f"every deferred text of {phone} was answered",
        timeout=90,
        interval=0.05,
    )


# ----- the gauge ------------------------------------------------------------------------------


def test_the_gauge_enters_surge_at_the_threshold_and_leaves_it_with_hysteresis() -> None:
    gauge = SurgeGauge(enter_at=3, leave_at=1, hold=0.0)
    seen: list[bool] = []
    with gauge.track() as first:
        seen.append(first)
        with gauge.track() as second:
            seen.append(second)
            with gauge.track() as third:  # three in flight: surge
                seen.append(third)
            with gauge.track() as still:  # back to three in flight, from above: still surge
                seen.append(still)
            assert gauge.surging  # two in flight: above leave_at, stays in surge
        assert not gauge.surging  # one in flight: at leave_at, left
        with gauge.track() as calm:
            seen.append(calm)
    assert seen == [False, False, True, True, False]
    assert gauge.in_flight == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_gauge_stays_in_surge_for_the_hold_after_it_entered() -> None:
    clock = Clock()
    gauge = SurgeGauge(enter_at=2, leave_at=1, hold=1.0, clock=clock)
    with gauge.track() as first, gauge.track() as second:  # two in flight: surge
        assert (first, second) == (False, True)
    assert gauge.in_flight == 0 and gauge.surging  # none in flight, but held
    clock.now += 0.5
    with gauge.track() as calm_but_held:
        assert calm_but_held
    clock.now += 0.6  # the hold is over: the next text is answered in the request
    with gauge.track() as after:
        assert not after
    with gauge.track(waited_too_long=True) as late:  # waited at the router: surge, held
        assert late
    with gauge.track() as behind_it:
        assert behind_it
    clock.now += 1.0
    with gauge.track() as later:
        assert not later


def test_the_default_gauge_thresholds_are_ordered() -> None:
    assert 0 <= LEAVE_AT < ENTER_AT
    with pytest.raises(ValueError):
        SurgeGauge(enter_at=2, leave_at=2)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("t=not-a-time", False),
        ("t={ms}", True),  # Heroku: milliseconds
        ("{us}", True),  # microseconds
        ("t={s}", True),  # seconds with a fraction
        ("t={fresh_ms}", False),
        ("t={future_ms}", False),
        ("t=1000", False),  # decades ago: a clock problem, not a queue
    ],
)
def test_x_request_start_over_budget_defers(header: str | None, expected: bool) -> None:
    now = 1_800_000_000.0
    waited = now - 3.0
    values = {
        "ms": f"{waited * 1000:.0f}",
        "us": f"{waited * 1e6:.0f}",
        "s": f"{waited:.3f}",
        "fresh_ms": f"{(now - 0.1) * 1000:.0f}",
        "future_ms": f"{(now + 5) * 1000:.0f}",
    }
    assert queued_too_long(None if header is None else header.format(**values), now) is expected


def test_a_request_that_waited_at_the_router_is_deferred_and_the_next_ones_for_the_hold(
    app: Flask, sms: SmsHelper, db: Session, redis: Redis
) -> None:
    clock = Clock()
    resources(app).surge = SurgeGauge(clock=clock)
    waited = f"t={(time.time() - 5) * 1000:.0f}"
    reply = sms.post("/twilio/inbound", sms.form(ANA, "JOIN"), headers={"X-Request-Start": waited})
    assert reply.texts == []
    assert inbound_rows(db, ANA)[0].status == MessageStatus.RECEIVED
    fresh = f"t={time.time() * 1000:.0f}"
    reply = sms.post("/twilio/inbound", sms.form(BEN, "JOIN"), headers={"X-Request-Start": fresh})
    assert reply.texts == []  # the process is behind: still in surge, for the hold
    clock.now += HOLD
    fresh = f"t={time.time() * 1000:.0f}"
    reply = sms.post("/twilio/inbound", sms.form(CAL, "JOIN"), headers={"X-Request-Start": fresh})
    assert len(reply.texts) == 1


def _now() -> Any:
    from service import clock

    return clock.now()


def test_the_gauge_stays_in_surge_while_texts_arrive_faster_than_calm_steps_would_answer() -> None:
    """Acknowledgements are cheap: the count falls while texts still pour in. The process
    leaves surge only once the last second's texts, each taking a calm step's time, would
    keep no more than ``leave_at`` in flight (Little's law)."""
    clock = Clock()
    gauge = SurgeGauge(enter_at=4, leave_at=1, hold=1.0, clock=clock, window=1.0)
    with gauge.track() as calm:  # one in flight: a calm step of 50 ms
        assert not calm
        clock.now += 0.05
    assert gauge.step_time == pytest.approx(0.005)  # a tenth of it: the first sample
    for _ in range(10):  # ten more calm steps of 50 ms
        with gauge.track():
            clock.now += 0.05
    step = gauge.step_time
    assert 0.03 < step < 0.05
    with gauge.track(waited_too_long=True) as entered:
        assert entered
    # 200 texts/s for 1.5 s, past the hold, each acknowledged at once: one in flight at a time
    for _ in range(300):
        clock.now += 0.005
        with gauge.track() as acknowledged:
            assert acknowledged
    assert gauge.surging and gauge.expected_in_flight == pytest.approx(200 * step, rel=0.05)
    assert gauge.step_time == step  # acknowledgements are not steps
    clock.now += 1.0  # the texts stop: the last second held none
    with gauge.track() as after:
        assert not after
    assert gauge.in_flight == 0


def test_a_gauge_that_saw_no_calm_step_leaves_surge_on_the_count_alone() -> None:
    clock = Clock()
    gauge = SurgeGauge(enter_at=2, leave_at=1, hold=0.0, clock=clock)
    with gauge.track() as first, gauge.track() as second:
        assert (first, second) == (False, True)
    assert not gauge.surging and gauge.step_time == 0.0


def test_forget_confirmed_under_surge_is_answered_at_the_number_it_erased_then_forgotten(
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    redis: Redis,
    worker: Runtime,
    fake_twilio: FakeTwilio,
) -> None:
    """In the request the TwiML answer reaches an erased sender with no address kept; a
    worker's answer needs the number until Twilio has it, then loses it like the rest."""
    for text in ("JOIN", "Ana", "YES", "FORGET"):
        assert sms.send(ANA, text) == []
    answer(worker, redis)
    assert sms.send(ANA, "YES") == []
    answer(worker, redis)

    done = (
        "Done: Riverside Flood Crew erased your name, number and texts. You will get no more "
        "texts. Text JOIN to start again."
    )
    assert bodies_to(fake_twilio, ANA)[-1] == done
    db.expire_all()
    assert db.scalars(select(Volunteer.erased_at)).one() is not None
    farewell = db.scalars(select(Message).where(Message.kind == MessageKind.FAREWELL)).one()
    assert farewell.status in (MessageStatus.QUEUED, MessageStatus.SENT)
    assert farewell.to_address == "erased" and farewell.body == done
    assert count_messages(db, to_address=ANA) == count_messages(db, from_address=ANA) == 0


def test_a_farewell_that_twilio_refuses_is_forgotten_all_the_same(
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    redis: Redis,
    worker: Runtime,
    fake_twilio: FakeTwilio,
) -> None:
    for text in ("JOIN", "Ana", "YES", "FORGET"):
        assert sms.send(ANA, text) == []
    answer(worker, redis)
    fake_twilio.fail_for(ANA, status=400, code=21211, message="invalid 'To' number")
    assert sms.send(ANA, "YES") == []
    answer(worker, redis)  # RQ files the send job as failed (DeliveryFailed)

    db.expire_all()
    farewell = db.scalars(select(Message).where(Message.kind == MessageKind.FAREWELL)).one()
    assert farewell.status == MessageStatus.FAILED
    assert farewell.to_address == "erased"
    assert count_messages(db, to_address=ANA) == 0


def test_a_text_after_an_unsent_farewell_waits_for_it_though_the_erasure_renamed_the_row(
    app: Flask,
    sms: SmsHelper,
    surge: SurgeGauge,
    db: Session,
    session_factory: sessionmaker[Session],
    redis: Redis,
    worker: Runtime,
    fake_twilio: FakeTwilio,
) -> None:
    """FORGET confirmed by a worker leaves a FAREWELL to send; a JOIN from the same number
    right after finds no volunteer row of that number (the erasure renamed it), yet its
    welcome must not reach them in TwiML before the farewell: it is deferred too."""
    for text in ("JOIN", "Ana", "YES", "FORGET"):
        assert sms.send(ANA, text) == []
    answer(worker, redis)
    assert sms.send(ANA, "YES") == []
    assert deferred.answer_waiting(session_factory, _now(), settle=timedelta(0)) == 1
    db.expire_all()
    farewell = db.scalars(select(Message).where(Message.kind == MessageKind.FAREWELL)).one()
    assert (farewell.status, farewell.to_address) == (MessageStatus.PENDING, ANA)
    resources(app).surge = SurgeGauge()  # the surge is over

    assert sms.send(ANA, "JOIN") == []  # deferred behind the unsent farewell

    answer(worker, redis)
    texts = bodies_to(fake_twilio, ANA)
    assert texts[-2].startswith("Done: Riverside Flood Crew erased your name")
    assert texts[-1].startswith("Hi! Thanks for texting Riverside Flood Crew")
    assert sms.send(ANA, "Ana")[0].startswith("Thanks Ana.")  # nothing unsent: in the request


def test_the_gauge_logs_when_a_surge_begins_and_when_it_is_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What an operator reads to tell a surge from a web short of capacity."""
    clock = Clock()
    gauge = SurgeGauge(enter_at=2, leave_at=1, hold=1.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="service.conversations.surge"):
        with gauge.track(), gauge.track(), gauge.track():  # enters at the second
            pass
        clock.now += 0.5
        with gauge.track(waited_too_long=True):  # in surge already: no second line
            pass
        clock.now += 3.0
        with gauge.track() as calm:  # the hold is over and nothing in flight: left
            assert not calm
        with gauge.track(waited_too_long=True):
            pass
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("WARNING", "surge: deferring texts to the workers (2 webhook(s) in flight)"),
        (
            "INFO",
            "surge over after 3.5 s: 3 text(s) deferred to the workers; "
            "answering in the request again",
        ),
        (
            "WARNING",
            "surge: deferring texts to the workers (1 webhook(s) in flight, one waited over "
            "0.5 s at the router)",
        ),
    ]
