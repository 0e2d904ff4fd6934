"""Sending at a fast sender's rate: how many sends a batch keeps in flight (enough for its
sender's rate at Twilio's latency), and how big the batches the pump hands over are.

Twilio takes 100-300 ms to accept a message. With a fixed four lanes a worker sends about
20/s, a fifth of what a short code may. ``workers.dispatch.lanes_for`` sizes a batch's lanes
from each sender's rate and the latency the worker has measured; the token buckets still keep
the rate. A send job costs at least one round trip, so the pump lets a held-back sender's
bucket refill to most of a batch (``dispatcher.refill_wait``) instead of handing over the few
tokens each tenth of a second brings. The lane tests post real batches through the SDK to the
fake Twilio server and read how many requests it had open at once.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import Engine, event, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import Session, sessionmaker

from service.db import unit_of_work
from service.models import Channel, ChannelKind, Community, Message, MessageStatus
from service.sending import dispatcher
from service.sending.gate import sender_for
from service.sending.pacing import Rate, TokenBuckets
from service.sending.planning import Attempt, PlannedSend, WireRoute
from tests.conftest import COMMUNITY_NUMBER, DEADLINE, wait_until
from tests.fakes.twilio_server import FakeTwilio
from tests.workers.test_outbound_engine import person, queue
from workers import dispatch, runtime

SHORT_CODE_RATE = 100.0


def sms_channel_rate(factory: sessionmaker[Session], community: Community, rate: float) -> None:
    with unit_of_work(factory) as session:
        session.execute(
            update(Channel)
            .where(Channel.community_id == community.id, Channel.kind == ChannelKind.SMS)
            .values(rate_per_second=rate)
        )


def batch_of(factory: sessionmaker[Session], community: Community, count: int) -> list[int]:
    ids = []
    for n in range(count):
        volunteer = person(factory, community, f"+1202555{n:04d}")
        ids.append(queue(factory, volunteer, "notice", f"Road closed {n}"))
    return ids


def test_a_short_code_batch_keeps_its_rate_times_the_latency_in_flight(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    db: Session,
) -> None:
    sms_channel_rate(session_factory, community, SHORT_CODE_RATE)
    ids = batch_of(session_factory, community, 60)
    fake_twilio.latency = 0.5
    worker.latency = 0.2  # as measured: 100/s x 0.2 s x 2 headroom = 40 lanes

    assert dispatch.send_batch(ids) == "sent 60"

    # four fixed lanes never had more than 4 open; the threads may start late on a busy
    # machine, but each request stays open half a second
    assert fake_twilio.stats()["max_in_flight"] >= 30
    assert sorted(m.to for m in fake_twilio.messages) == sorted(
        db.scalars(select(Message.to_address).where(Message.id.in_(ids)))
    )
    assert set(db.scalars(select(Message.status).where(Message.id.in_(ids)))) == {
        MessageStatus.QUEUED  # Twilio's answer to an accepted message
    }


def test_a_long_code_batch_does_not_open_more_lanes_than_its_rate_needs(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    ids = batch_of(session_factory, community, 12)  # the community's US long code: 1/s
    fake_twilio.latency = 0.2
    worker.latency = 0.2

    assert dispatch.send_batch(ids) == "sent 12"

    assert fake_twilio.stats()["max_in_flight"] <= runtime.MIN_SEND_LANES


def test_the_worker_learns_twilios_latency_from_its_sends(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    ids = batch_of(session_factory, community, 8)
    fake_twilio.latency = 0.3
    worker.latency = 0.0

    dispatch.send_batch(ids)

    # eight samples of >= 0.3 s with weight 0.1 each: 0.3 x (1 - 0.9^8) = 0.17 at least
    assert worker.latency >= 0.3 * (1 - (1 - runtime.LATENCY_WEIGHT) ** 8) - 1e-9


@pytest.mark.parametrize(
    ("rate", "latency", "jobs", "lanes"),
    [
        (100.0, 0.2, 100, 40),  # a short code at Twilio's typical latency
        (80.0, 0.25, 100, 40),  # a high-tier WhatsApp sender
        (100.0, 1.0, 100, runtime.SEND_THREADS),  # a slow Twilio: capped by the threads
        (100.0, 0.2, 10, runtime.MIN_SEND_LANES + 6),  # no more lanes than sends
        (1.0, 0.2, 100, runtime.MIN_SEND_LANES),  # a long code: the floor
    ],
)
def test_lanes_follow_rate_and_latency(
    session_factory: sessionmaker[Session],
    community: Community,
    rate: float,
    latency: float,
    jobs: int,
    lanes: int,
) -> None:
    with unit_of_work(session_factory) as session:
        channel = session.scalars(
            select(Channel).where(
                Channel.community_id == community.id, Channel.kind == ChannelKind.SMS
            )
        ).one()
        channel.rate_per_second = rate
        sender = sender_for(channel)
    planned = [
        PlannedSend(n, None, Attempt(WireRoute(sender, f"+1202555{n:04d}"), "Hi", "sent"))
        for n in range(jobs)
    ]
    assert dispatch.lanes_for(planned, latency) == lanes


@pytest.mark.parametrize(
    ("per_second", "burst", "waiting", "seconds"),
    [
        (100.0, 100, 500, 0.75),  # a short code: three quarters of a batch, not 1/100 s
        (80.0, 80, 500, 0.75),  # WhatsApp at high tier: three quarters of its burst
        (100.0, 100, 20, 0.15),  # only 20 wait: no need to wait for more
        (1.0, 1, 5, 0.75),  # a long code: the next token is what counts (about 1 s)
    ],
)
def test_a_held_back_fast_sender_is_handed_over_in_batches(
    per_second: float, burst: int, waiting: int, seconds: float
) -> None:
    assert dispatcher.refill_wait(Rate(per_second, burst), waiting) == pytest.approx(seconds)


def test_the_pump_waits_for_a_batch_of_a_short_codes_tokens(
    session_factory: sessionmaker[Session],
    community: Community,
    redis: Redis,
) -> None:
    sms_channel_rate(session_factory, community, SHORT_CODE_RATE)
    batch_of(session_factory, community, 130)
    buckets = TokenBuckets(redis, enabled=True)

    first = dispatcher.dispatch_due(session_factory, redis, buckets)

    assert (first.enqueued, first.held_back) == (100, 30)  # the burst: one second's worth
    # the 30 left go once the bucket holds three quarters of them, not token by token
    assert first.retry_after == pytest.approx(0.75 * 30 / SHORT_CODE_RATE, abs=0.011)


def test_a_recipients_texts_go_in_the_order_they_were_queued_however_the_rows_lie(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    """Several texts to one person in one batch (a deferred text's reply, then the next
    one's) reach Twilio in id order, among other recipients' texts sent in parallel lanes,
    with the later rows rewritten first. (bench.surge saw two replies to one volunteer go in
    reverse when planning read the batch without ORDER BY; this small batch does not
    reproduce PostgreSQL's plan for that, so it holds the order, not that cause.)"""
    sms_channel_rate(session_factory, community, SHORT_CODE_RATE)
    ana = person(session_factory, community, "+12025550188")
    others = batch_of(session_factory, community, 8)  # several recipients: lanes in use
    mine = [queue(session_factory, ana, "notice", f"Update {n}") for n in range(5)]
    with unit_of_work(session_factory) as session:
        for message_id in reversed(mine):  # rewrite the rows, the last one first
            session.execute(update(Message).where(Message.id == message_id).values(decision=None))
            session.flush()
    worker.latency = 0.2
    assert dispatch.send_batch(sorted(others + mine)) == "sent 13"
    assert [m.body for m in fake_twilio.sent_to("+12025550188")] == [
        f"Update {n}" for n in range(5)
    ]


def test_a_recipient_with_several_texts_in_a_batch_is_sent_to_first(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    """Their texts go one after another in one lane: taken last, they would hold the whole
    batch for two more round trips after every other lane had finished."""
    ids = batch_of(session_factory, community, 8)  # a long code: four lanes
    busy = person(session_factory, community, "+12025559999")
    ids += [queue(session_factory, busy, "reply", f"Answer {n}") for n in range(3)]
    fake_twilio.latency = 0.3

    assert dispatch.send_batch(ids) == "sent 11"

    arrived = [m.to for m in fake_twilio.messages]  # in the order the requests arrived
    assert arrived.index("+12025559999") < runtime.MIN_SEND_LANES  # among the first round
    assert [m.body for m in fake_twilio.sent_to("+12025559999")] == [
        "Answer 0",
        "Answer 1",
        "Answer 2",
    ]


def test_a_batch_twilio_accepted_is_recorded_without_loading_its_rows_again(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    db: Session,
) -> None:
    """The job loads its rows once, to plan them; what Twilio accepted is written back in
    one statement for the batch (``dispatch._record_accepted``), the same fields as a row
    recorded one by one."""
    ids = batch_of(session_factory, community, 12)
    loaded: list[int] = []

    def count_load(target: Message, _: Any) -> None:
        loaded.append(target.id)

    event.listen(Message, "load", count_load)
    try:
        assert dispatch.send_batch(ids) == "sent 12"
    finally:
        event.remove(Message, "load", count_load)

    assert sorted(loaded) == sorted(ids)  # planning's load; recording loaded none again
    db.expire_all()
    rows = db.scalars(select(Message).where(Message.id.in_(ids))).all()
    by_to = {m.to: m.sid for m in fake_twilio.messages}
    for message in rows:
        assert message.status == MessageStatus.QUEUED
        assert message.twilio_sid == by_to[message.to_address]
        assert message.attempts == 1 and message.lease_until is None
        assert message.claimed_at is not None and message.decision is not None
        assert message.sent_at is not None and message.sent_at >= message.claimed_at
        assert message.from_address == COMMUNITY_NUMBER and message.channel_id is not None
        assert message.decision.startswith("sent")
        assert message.updated_at >= message.sent_at


def test_a_hand_over_waits_for_one_running_so_a_recipients_replies_are_queued_in_order(
    session_factory: sessionmaker[Session],
    community: Community,
    engine: Engine,
    redis: Redis,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's pump and its deferred-text lanes both hand replies over. One hand-over
    holds a volunteer's first reply (locked, not yet queued) when the second reply is
    stored and another hand-over starts: that one waits, so the job with the first reply is
    queued first. (Run side by side, the second skipped the locked row, queued its job
    first, and the second reply reached Twilio a second before the first: bench.surge.)"""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write lock serialises hand-overs (BEGIN IMMEDIATE)")
    ana = person(session_factory, community, "+12025550188")
    first = queue(session_factory, ana, "reply", "First")
    selected, release = threading.Event(), threading.Event()
    pace = dispatcher._pace

    def pace_then_pause(*args: Any) -> Any:
        chosen = pace(*args)
        if threading.current_thread() is running:
            selected.set()
            release.wait(DEADLINE)
        return chosen

    monkeypatch.setattr(dispatcher, "_pace", pace_then_pause)
    running = threading.Thread(target=dispatcher.dispatch_due, args=(session_factory, redis))
    running.start()
    assert selected.wait(DEADLINE), "the first hand-over selects the first reply"
    second = queue(session_factory, ana, "reply", "Second")
    later = threading.Thread(target=dispatcher.dispatch_due, args=(session_factory, redis))
    later.start()

    def waiting_or_done() -> bool:
        ungranted = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        return not later.is_alive() or bool(db.scalar(sql(ungranted)))

    wait_until(waiting_or_done, "the second hand-over waits for the first, or has finished")
    release.set()
    running.join(DEADLINE)
    later.join(DEADLINE)

    queued = [
        job.args[0]
        for name in dict.fromkeys(dispatcher.QUEUE_BY_PRIORITY.values())
        for job in Queue(name, connection=redis).jobs
    ]
    assert queued == [[first], [second]]


def test_the_webs_hand_over_leaves_its_rows_to_the_pump_rather_than_wait_for_another(
    session_factory: sessionmaker[Session],
    community: Community,
    engine: Engine,
    redis: Redis,
) -> None:
    """The hand-over that holds the lock may be the worker's, at nice 10, kept from the CPU
    by the web itself: a request does not wait for it. Its rows wait, unhanded, for the
    next hand-over."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write lock serialises hand-overs (BEGIN IMMEDIATE)")
    ana = person(session_factory, community, "+12025550188")
    reply = queue(session_factory, ana, "reply", "Sent by the pump")
    with session_factory() as holder:
        assert dispatcher.one_dispatch_at_a_time(holder)
        assert dispatcher.dispatch_due(session_factory, redis, wait=False).enqueued == 0
        holder.commit()
    with session_factory() as session:
        assert session.get_one(Message, reply).enqueued_at is None
    assert dispatcher.dispatch_due(session_factory, redis, wait=False).enqueued == 1
