"""Outbound sending through the real Twilio SDK against the fake Twilio server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import clock
from service.db import unit_of_work
from service.models import Community, Message, MessageKind, MessageStatus, OutboxItem, Volunteer
from service.sending import dispatcher, outbox
from service.sending.broadcasts import queue_broadcast
from service.sending.queue import queue_message
from tests.conftest import COMMUNITY_NUMBER, SmsHelper
from tests.fakes.twilio_server import FakeTwilio
from workers import dispatch
from workers.worker import HandsUpWorker

ANA = "+12025550123"
BEN = "+12025550124"


def add_volunteer(
    factory: sessionmaker[Session],
    community: Community,
    phone: str,
    status: VolunteerStatus = VolunteerStatus.ACTIVE,
) -> int:
    with unit_of_work(factory) as session:
        volunteer = Volunteer(community_id=community.id, phone=phone, name="V", status=status)
        session.add(volunteer)
        session.flush()
        return volunteer.id


def queue_one(factory: sessionmaker[Session], volunteer_id: int, key: str = "k1") -> int:
    with unit_of_work(factory) as session:
        volunteer = session.get_one(Volunteer, volunteer_id)
        message = queue_message(
            session,
            volunteer=volunteer,
            body="Shift at 9am",
            kind=MessageKind.NOTICE,
            idempotency_key=key,
        )
        return message.id


@pytest.fixture
def frozen() -> Iterator[datetime]:
    moment = datetime(2030, 3, 1, 15, 0, tzinfo=UTC)
    clock.freeze(moment)
    yield moment
    clock.freeze(None)


def run_burst(redis: Redis) -> None:
    HandsUpWorker(list(outbox.QUEUES), connection=redis).work(burst=True)


def test_message_reaches_twilio_exactly_once_even_when_the_job_runs_twice(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    db: Session,
) -> None:
    message_id = queue_one(session_factory, add_volunteer(session_factory, community, ANA))
    assert dispatch.send_message(message_id).startswith("sent: SM")
    assert dispatch.send_message(message_id) == "skipped: not pending"
    assert [(m.to, m.from_, m.body) for m in fake_twilio.messages] == [
        (ANA, COMMUNITY_NUMBER, "Shift at 9am")
    ]
    stored = db.get_one(Message, message_id)
    assert stored.twilio_sid == fake_twilio.messages[0].sid
    assert stored.status == MessageStatus.QUEUED
    assert fake_twilio.messages[0].status_callback == (
        f"https://handsup.example.org/twilio/status?m={message_id}"
    )


def test_send_job_enqueued_twice_through_rq_sends_once(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
) -> None:
    message_id = queue_one(session_factory, add_volunteer(session_factory, community, ANA))
    # the same rows handed to RQ twice (a retry after a lost acknowledgement, two pumps)
    queue = Queue("default", connection=redis)
    queue.enqueue(dispatcher.SEND_BATCH_JOB, [message_id])
    queue.enqueue(dispatcher.SEND_BATCH_JOB, [message_id])
    run_burst(redis)
    assert len(fake_twilio.messages) == 1
    assert dispatch.send_batch([message_id]) == "skipped 1"
    assert len(fake_twilio.messages) == 1
    db.expire_all()
    assert db.get_one(Message, message_id).status == MessageStatus.QUEUED


def test_pump_enqueues_due_rows_and_worker_sends_them(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
) -> None:
    for phone in (ANA, BEN):
        add_volunteer(session_factory, community, phone)
    with unit_of_work(session_factory) as session:
        assert queue_broadcast(session, community, "Sandbags at the school, 6pm") == 2
    assert outbox.enqueue_due(session_factory, redis) == 2
    assert outbox.enqueue_due(session_factory, redis) == 0  # already enqueued
    run_burst(redis)
    assert sorted(m.to for m in fake_twilio.messages) == [ANA, BEN]
    assert set(fake_twilio.bodies()) == {"Riverside Flood Crew: Sandbags at the school, 6pm"}


def test_rows_wait_while_redis_is_down_and_go_out_when_it_is_back(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
) -> None:
    message_id = queue_one(session_factory, add_volunteer(session_factory, community, ANA))
    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    assert outbox.enqueue_due(session_factory, unreachable) == 0
    db.expire_all()
    assert db.get_one(Message, message_id).enqueued_at is None
    assert outbox.enqueue_due(session_factory, redis) == 1
    run_burst(redis)
    assert len(fake_twilio.messages) == 1


def test_opted_out_at_send_time_is_suppressed(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    db: Session,
) -> None:
    volunteer_id = add_volunteer(session_factory, community, ANA)
    message_id = queue_one(session_factory, volunteer_id)
    with unit_of_work(session_factory) as session:
        session.get_one(Volunteer, volunteer_id).status = VolunteerStatus.OPTED_OUT
    assert dispatch.send_message(message_id) == "suppressed: recipient opted out"
    assert fake_twilio.messages == []
    assert db.get_one(Message, message_id).status == MessageStatus.SUPPRESSED


def test_queueing_to_an_opted_out_volunteer_records_suppression_without_outbox(
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
) -> None:
    volunteer_id = add_volunteer(session_factory, community, ANA, VolunteerStatus.OPTED_OUT)
    message_id = queue_one(session_factory, volunteer_id)
    assert db.get_one(Message, message_id).status == MessageStatus.SUPPRESSED
    assert db.scalars(select(OutboxItem)).all() == []


def test_unsubscribed_error_21610_opts_out_and_is_not_retried(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    db: Session,
) -> None:
    volunteer_id = add_volunteer(session_factory, community, ANA)
    message_id = queue_one(session_factory, volunteer_id)
    fake_twilio.fail_next(status=400, code=21610, message="Attempt to send to unsubscribed")
    assert dispatch.send_message(message_id) == "failed: 21610"
    message = db.get_one(Message, message_id)
    assert (message.status, message.error_code) == (MessageStatus.FAILED, 21610)
    assert db.get_one(Volunteer, volunteer_id).status == VolunteerStatus.OPTED_OUT
    assert dispatch.send_message(message_id) == "skipped: not pending"
    assert fake_twilio.messages == []


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (500, 20500), (503, 20503)])
def test_transient_errors_are_retried_later_with_backoff(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    db: Session,
    frozen: datetime,
    status: int,
    code: int,
) -> None:
    message_id = queue_one(session_factory, add_volunteer(session_factory, community, ANA))
    fake_twilio.fail_next(status=status, code=code)
    assert dispatch.send_message(message_id).startswith("retry: retrying at ")
    db.expire_all()
    waiting = db.get_one(Message, message_id)
    assert (waiting.status, waiting.error_code, waiting.attempts) == (
        MessageStatus.PENDING,
        code,
        1,
    )
    # first retry after 7.5-15 s (jittered), not at once
    assert frozen + timedelta(seconds=7.5) <= waiting.not_before <= frozen + timedelta(seconds=15)
    assert dispatch.send_message(message_id) == "skipped: not pending"  # not due yet
    clock.freeze(waiting.not_before)
    assert dispatch.send_message(message_id).startswith("sent:")
    assert len(fake_twilio.messages) == 1


def test_stop_then_broadcast_reaches_no_one_who_stopped_until_start(
    sms: SmsHelper,
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
) -> None:
    sms.join(ANA, "Ana")
    sms.join(BEN, "Ben")
    sms.send(ANA, "STOP")

    def broadcast(text: str) -> None:
        with unit_of_work(session_factory) as session:
            queue_broadcast(session, community, text)
        outbox.enqueue_due(session_factory, redis)
        run_burst(redis)

    broadcast("Road closed")
    assert fake_twilio.sent_to(ANA) == []
    assert [m.body for m in fake_twilio.sent_to(BEN)] == ["Riverside Flood Crew: Road closed"]
    sms.send(ANA, "are you there?")
    broadcast("Shelter open")
    assert fake_twilio.sent_to(ANA) == []
    sms.send(ANA, "START")
    broadcast("Thanks all")
    assert [m.body for m in fake_twilio.sent_to(ANA)] == ["Riverside Flood Crew: Thanks all"]


def test_non_urgent_texts_wait_for_quiet_hours_unless_too_late(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    db: Session,
) -> None:
    # quiet hours 21:00-08:00 New York; 23:00 local is inside them
    night = datetime(2030, 3, 1, 23, 0, tzinfo=ZoneInfo("America/New_York"))
    with unit_of_work(session_factory) as session:
        stored = session.get_one(Community, community.id)
        stored.quiet_start_minute, stored.quiet_end_minute = 21 * 60, 8 * 60
    volunteer_id = add_volunteer(session_factory, community, ANA)
    clock.freeze(night)
    try:
        message_id = queue_one(session_factory, volunteer_id)  # kind "notice"
        db.expire_all()
        waiting = db.get_one(Message, message_id)
        # due when quiet hours end (08:00 local), and says so
        assert waiting.not_before == datetime(2030, 3, 2, 13, 0, tzinfo=UTC)
        assert waiting.decision == "deferred until 2030-03-02 13:00 UTC (quiet hours)"
        # a job run early leaves it waiting
        assert dispatch.send_message(message_id) == "skipped: not pending"
        db.expire_all()
        assert db.get_one(Message, message_id).status == MessageStatus.PENDING
        assert fake_twilio.messages == []
        # one about a shift at 07:00 cannot wait until 08:00: it goes now
        with unit_of_work(session_factory) as session:
            urgent = queue_message(
                session,
                volunteer=session.get_one(Volunteer, volunteer_id),
                body="Shift at 7",
                kind=MessageKind.NOTICE,
                idempotency_key="k-early",
                send_before=night + timedelta(hours=8),
            )
            urgent_id = urgent.id
        assert dispatch.send_message(urgent_id).startswith("sent:")
        # after 08:00 the first one goes too
        clock.freeze(night + timedelta(hours=9, minutes=1))
        assert dispatch.send_message(message_id).startswith("sent:")
        assert [m.body for m in fake_twilio.messages] == ["Shift at 7", "Shift at 9am"]
    finally:
        clock.freeze(None)


def test_a_job_also_sends_rows_handed_to_later_jobs_of_its_priority_which_then_skip(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    db: Session,
) -> None:
    """A job costs a Twilio round trip whatever its size: one that holds fewer than a full
    batch takes the rows already handed to later jobs of its priority (the pump and a lane
    batch each handed over part of a surge's replies), never a row not handed over yet or
    one of another priority."""
    notices = [
        queue_one(
            session_factory, add_volunteer(session_factory, community, f"+1202555{n:04d}"), f"k{n}"
        )
        for n in range(4)
    ]
    with unit_of_work(session_factory) as session:
        volunteer = session.get_one(Volunteer, add_volunteer(session_factory, community, BEN))
        reminder = queue_message(
            session,
            volunteer=volunteer,
            body="Tomorrow 9am",
            kind=MessageKind.REMINDER,
            idempotency_key="r",
        ).id
        handed_over = [*notices[:3], reminder]  # the fourth notice is not handed over yet
        session.execute(
            update(Message).where(Message.id.in_(handed_over)).values(enqueued_at=clock.now())
        )

    assert dispatch.send_batch(notices[:1]) == "sent 3"  # its own, and the two handed over later
    assert dispatch.send_batch(notices[1:3]) == "skipped 2"  # the later job: already sent
    sent = {m.to for m in fake_twilio.messages}
    assert sent == {"+12025550000", "+12025550001", "+12025550002"}
    db.expire_all()
    assert db.get_one(Message, notices[3]).status == MessageStatus.PENDING
    assert db.get_one(Message, reminder).status == MessageStatus.PENDING
