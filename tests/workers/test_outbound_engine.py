"""The outbound engine end to end, in process: the send gate on every path, WhatsApp windows,
retries and permanent errors, pacing and priority, delivery callbacks, broadcasts.

Sends go through the real Twilio SDK to the fake Twilio server; jobs run through RQ with a
burst worker (``deliver``) unless a test calls a job function directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import clock
from service.db import unit_of_work
from service.models import (
    ChannelKind,
    Community,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Priority,
    Volunteer,
)
from service.redis_conn import connect
from service.sending import dispatcher, outbox, pacing
from service.sending.broadcasts import Segment, preview_broadcast, queue_broadcast
from service.sending.pacing import TokenBuckets
from service.sending.queue import queue_message
from tests.conftest import COMMUNITY_NUMBER, WHATSAPP_NUMBER, SmsHelper, whatsapp_channel
from tests.fakes.twilio_server import FakeTwilio
from workers import dispatch
from workers.worker import HandsUpWorker

ANA = "+12025550161"
BEN = "+12025550162"
TEMPLATE = "HX" + "a" * 32
DAY = datetime(2030, 3, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York


@pytest.fixture
def frozen() -> Iterator[datetime]:
    clock.freeze(DAY)
    yield DAY
    clock.freeze(None)


def person(
    factory: sessionmaker[Session], community: Community, phone: str = ANA, **fields: Any
) -> int:
    fields.setdefault("status", VolunteerStatus.ACTIVE)
    with unit_of_work(factory) as session:
        volunteer = Volunteer(
            community_id=community.id, phone=phone, name="Ana", consent_at=clock.now(), **fields
        )
        session.add(volunteer)
        session.flush()
        return volunteer.id


def queue(
    factory: sessionmaker[Session], volunteer_id: int, kind: str, body: str = "Hello", **kw: Any
) -> int:
    with unit_of_work(factory) as session:
        message = queue_message(
            session,
            volunteer=session.get_one(Volunteer, volunteer_id),
            body=body,
            kind=MessageKind(kind),
            idempotency_key=f"{kind}:{volunteer_id}:{body}:{clock.now().isoformat()}",
            **kw,
        )
        return message.id


def deliver(factory: sessionmaker[Session], redis: Redis) -> None:
    """What the worker does: dispatch due rows to send jobs, RQ runs them."""
    while outbox.enqueue_due(factory, redis):
        HandsUpWorker(list(outbox.QUEUES), connection=redis).work(burst=True)


def row(db: Session, message_id: int) -> Message:
    db.expire_all()
    return db.get_one(Message, message_id)


# ----- the gate on every path -------------------------------------------------------------------


def test_after_stop_nothing_reaches_the_volunteer_on_any_path(
    sms: SmsHelper,
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
) -> None:
    sms.join(ANA, "Ana")
    ana = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one().id
    earlier = queue(session_factory, ana, "notice", "Sent before STOP")
    deliver(session_factory, redis)
    assert [m.body for m in fake_twilio.sent_to(ANA)] == ["Sent before STOP"]
    queued = [queue(session_factory, ana, kind) for kind in dispatch_kinds()]
    with unit_of_work(session_factory) as session:
        queue_broadcast(session, community, "Road closed")  # opted-out people are not in it
    sms.send(ANA, "STOP")
    # a carrier hiccup on the earlier text asks for a resend: the gate stops that too
    assert sms.status(row(db, earlier).twilio_sid or "", "undelivered", "30003") == 204
    clock.freeze(datetime.now(UTC) + timedelta(minutes=11))
    try:
        deliver(session_factory, redis)
    finally:
        clock.freeze(None)
    assert [m.body for m in fake_twilio.sent_to(ANA)] == ["Sent before STOP"]
    resend = db.scalars(select(Message).where(Message.retry_of_id == earlier)).one()
    for message_id in [*queued, resend.id]:
        stopped = row(db, message_id)
        assert (stopped.status, stopped.decision) == (
            MessageStatus.SUPPRESSED,
            "suppressed: recipient opted out",
        )


def dispatch_kinds() -> list[str]:
    return ["notice", "reminder", "callout", "ask", "broadcast", "direct"]


def test_a_volunteer_on_a_break_gets_reminders_but_no_asks_call_outs_or_broadcasts(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
) -> None:
    ana = person(
        session_factory,
        community,
        status=VolunteerStatus.PAUSED,
        paused_until=datetime.now(UTC) + timedelta(days=14),
    )
    ids = {kind: queue(session_factory, ana, kind, f"a {kind}") for kind in dispatch_kinds()}
    deliver(session_factory, redis)
    assert sorted(m.body for m in fake_twilio.sent_to(ANA)) == [
        "a direct",
        "a notice",
        "a reminder",
    ]
    for kind in ("ask", "callout", "broadcast"):
        assert row(db, ids[kind]).decision == "suppressed: volunteer is on a break"


def test_quiet_hours_are_checked_again_at_send_time(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    frozen: datetime,
) -> None:
    with unit_of_work(session_factory) as session:
        place = session.get_one(Community, community.id)
        place.quiet_start_minute, place.quiet_end_minute = 21 * 60, 8 * 60
    ana = person(session_factory, community)
    ben = person(session_factory, community, BEN, urgent_ok=True)
    notice = queue(session_factory, ana, "notice", "Tomorrow's plan")  # queued at 10:00
    callout = queue(session_factory, ben, "callout", "Need 2 now")
    night = datetime(2030, 3, 2, 3, 0, tzinfo=UTC)  # 22:00 New York
    clock.freeze(night)
    deliver(session_factory, redis)
    assert [m.body for m in fake_twilio.messages] == ["Need 2 now"]  # urgent, accepted
    waiting = row(db, notice)
    morning = datetime(2030, 3, 2, 13, 0, tzinfo=UTC)
    assert (waiting.status, waiting.not_before) == (MessageStatus.PENDING, morning)
    assert waiting.decision == "deferred until 2030-03-02 13:00 UTC (quiet hours)"
    clock.freeze(morning + timedelta(minutes=1))
    deliver(session_factory, redis)
    assert [m.body for m in fake_twilio.messages] == ["Need 2 now", "Tomorrow's plan"]
    assert row(db, callout).status == MessageStatus.QUEUED


def test_surplus_asks_beyond_the_weekly_limit_are_dropped(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
) -> None:
    ana = person(session_factory, community)
    for day in range(3):  # three asks sent this week (the default limit)
        asked = queue(session_factory, ana, "ask", f"ask {day}")
        with unit_of_work(session_factory) as session:
            session.get_one(Message, asked).sent_at = datetime.now(UTC) - timedelta(days=day + 1)
            session.get_one(Message, asked).status = MessageStatus.DELIVERED
    fourth = queue(session_factory, ana, "ask", "one more")
    reminder = queue(session_factory, ana, "reminder", "your shift")
    deliver(session_factory, redis)
    assert [m.body for m in fake_twilio.messages] == ["your shift"]
    assert row(db, fourth).decision == "suppressed: ask limit reached (3 a week)"
    assert row(db, reminder).status == MessageStatus.QUEUED


# ----- WhatsApp: window, template, SMS fallback, suppressed --------------------------------------


def on_whatsapp(
    factory: sessionmaker[Session], community: Community, db: Session, **fields: Any
) -> int:
    return person(
        factory, community, preferred_channel_id=whatsapp_channel(db, community).id, **fields
    )


def test_whatsapp_inside_the_window_sends_free_text(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    sms: SmsHelper,
) -> None:
    sms.send(f"whatsapp:{ANA}", "JOIN", to=f"whatsapp:{WHATSAPP_NUMBER}")  # opens the window
    ana = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    assert ana.whatsapp_inbound_at is not None
    with unit_of_work(session_factory) as session:
        session.get_one(Volunteer, ana.id).status = VolunteerStatus.ACTIVE
    message_id = queue(session_factory, ana.id, "reminder", "Shift at 9")
    deliver(session_factory, redis)
    [sent] = fake_twilio.messages
    assert (sent.to, sent.from_, sent.body, sent.content_sid) == (
        f"whatsapp:{ANA}",
        f"whatsapp:{WHATSAPP_NUMBER}",
        "Shift at 9",
        None,
    )
    assert row(db, message_id).decision == "sent"


def test_whatsapp_outside_the_window_sends_the_approved_template(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
) -> None:
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).whatsapp_templates = {"reminder": TEMPLATE}
    ana = on_whatsapp(
        session_factory, community, db, whatsapp_inbound_at=datetime.now(UTC) - timedelta(days=2)
    )
    message_id = queue(session_factory, ana, "reminder", "Shift at 9")
    deliver(session_factory, redis)
    [sent] = fake_twilio.messages
    assert (sent.to, sent.content_sid) == (f"whatsapp:{ANA}", TEMPLATE)
    assert sent.content_variables == {"1": "Riverside Flood Crew", "2": "Shift at 9"}
    stored = row(db, message_id)
    assert stored.content_sid == TEMPLATE
    assert stored.decision is not None and "template" in stored.decision


def test_whatsapp_without_template_falls_back_to_sms_for_sms_consenters_only(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
) -> None:
    ana = on_whatsapp(session_factory, community, db, sms_consent_at=datetime.now(UTC))
    ben = on_whatsapp(session_factory, community, db, phone=BEN)
    to_ana = queue(session_factory, ana, "notice", "Moved to 10am")
    to_ben = queue(session_factory, ben, "notice", "Moved to 10am")
    deliver(session_factory, redis)
    [sent] = fake_twilio.messages
    assert (sent.to, sent.from_) == (ANA, COMMUNITY_NUMBER)  # plain SMS from the SMS number
    fallback = row(db, to_ana)
    assert (fallback.to_address, fallback.from_address) == (ANA, COMMUNITY_NUMBER)
    assert fallback.decision is not None and fallback.decision.startswith("sent by SMS")
    suppressed = row(db, to_ben)
    assert (suppressed.status, suppressed.decision) == (
        MessageStatus.SUPPRESSED,
        "suppressed: outside WhatsApp window",
    )


def test_error_63016_falls_back_to_the_template_and_closes_our_window(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
) -> None:
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).whatsapp_templates = {"default": TEMPLATE}
    # our clock says the window is open; WhatsApp says it is not
    ana = on_whatsapp(session_factory, community, db, whatsapp_inbound_at=datetime.now(UTC))
    fake_twilio.close_whatsapp_window(ANA)
    message_id = queue(session_factory, ana, "notice", "Promoted to the shift")
    deliver(session_factory, redis)
    [sent] = fake_twilio.messages
    assert sent.content_sid == TEMPLATE
    assert row(db, message_id).content_sid == TEMPLATE
    db.expire_all()
    assert db.get_one(Volunteer, ana).whatsapp_inbound_at is None


def test_error_63016_without_template_or_sms_consent_is_suppressed(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
) -> None:
    ana = on_whatsapp(session_factory, community, db, whatsapp_inbound_at=datetime.now(UTC))
    fake_twilio.close_whatsapp_window(ANA)
    message_id = queue(session_factory, ana, "notice", "Promoted")
    deliver(session_factory, redis)
    assert fake_twilio.messages == []
    stored = row(db, message_id)
    assert (stored.status, stored.error_code, stored.decision) == (
        MessageStatus.SUPPRESSED,
        63016,
        "suppressed: outside WhatsApp window",
    )


def test_63016_in_a_status_callback_resends_through_the_gate_as_a_template(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    sms: SmsHelper,
) -> None:
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).whatsapp_templates = {"default": TEMPLATE}
    ana = on_whatsapp(session_factory, community, db, whatsapp_inbound_at=datetime.now(UTC))
    message_id = queue(session_factory, ana, "notice", "Promoted")
    deliver(session_factory, redis)
    assert sms.status(fake_twilio.messages[0].sid, "failed", "63016") == 204
    deliver(session_factory, redis)
    assert [m.content_sid for m in fake_twilio.messages] == [None, TEMPLATE]
    assert row(db, message_id).error_message == (
        "outside the WhatsApp 24-hour window: a template is needed (63016)"
    )


# ----- retries and permanent errors -------------------------------------------------------------


def test_rate_limits_are_retried_with_growing_backoff_then_sent(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    frozen: datetime,
) -> None:
    message_id = queue(session_factory, person(session_factory, community), "notice", "Hi")
    fake_twilio.fail_next(status=429, code=20429, message="Too Many Requests", times=2)
    deliver(session_factory, redis)
    first = row(db, message_id)
    assert (first.status, first.attempts, first.error_code) == (MessageStatus.PENDING, 1, 20429)
    first_retry = first.not_before
    assert frozen + timedelta(seconds=7.5) <= first_retry <= frozen + timedelta(seconds=15)
    deliver(session_factory, redis)  # not due yet: nothing happens
    assert dispatch.send_batch([message_id]) == "skipped 1"  # nor does a late duplicate job
    assert fake_twilio.requests == 1
    clock.freeze(first_retry)
    deliver(session_factory, redis)
    second = row(db, message_id)
    assert second.attempts == 2
    gap = second.not_before - first_retry
    assert timedelta(seconds=15) <= gap <= timedelta(seconds=30)  # doubled
    clock.freeze(second.not_before)
    deliver(session_factory, redis)
    sent = row(db, message_id)
    assert (sent.status, sent.attempts, sent.twilio_sid) == (
        MessageStatus.QUEUED,
        3,
        fake_twilio.messages[0].sid,
    )
    assert (fake_twilio.requests, len(fake_twilio.messages)) == (3, 1)


def test_after_five_failed_attempts_the_message_fails_and_the_job_lands_in_rq_failed_registry(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    frozen: datetime,
) -> None:
    message_id = queue(session_factory, person(session_factory, community), "notice", "Hi")
    fake_twilio.fail_next(status=503, code=20503, message="Service Unavailable", times=10)
    for attempt in range(1, 6):
        deliver(session_factory, redis)
        assert row(db, message_id).attempts == attempt
        clock.freeze(clock.now() + timedelta(minutes=20))
    failed = row(db, message_id)
    assert failed.status == MessageStatus.FAILED
    assert failed.decision is not None and failed.decision.startswith(
        "failed: gave up after 5 attempts"
    )
    assert fake_twilio.requests == 5
    deliver(session_factory, redis)
    assert fake_twilio.requests == 5  # a failed message is never retried again
    registry = FailedJobRegistry(queue=Queue("replies", connection=redis))
    [job_id] = registry.get_job_ids()
    job = Queue("replies", connection=redis).fetch_job(job_id)
    assert job is not None and job.args == ([message_id],)
    assert "DeliveryFailed" in (job.latest_result().exc_string or "")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (21211, "the number is not a valid phone number (21211)"),
        (21614, "the number is not a mobile number (21614)"),
    ],
)
def test_permanent_errors_fail_at_once_and_flag_the_number(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    code: int,
    reason: str,
) -> None:
    ana = person(session_factory, community)
    message_id = queue(session_factory, ana, "notice", "Hi")
    fake_twilio.fail_next(status=400, code=code, message="provider text")
    deliver(session_factory, redis)
    deliver(session_factory, redis)
    failed = row(db, message_id)
    assert (failed.status, failed.error_code, failed.error_message) == (
        MessageStatus.FAILED,
        code,
        reason,
    )
    assert failed.decision == f"failed: {reason}"
    assert fake_twilio.requests == 1  # never retried
    assert db.get_one(Volunteer, ana).unreachable_at is not None


def test_an_ambiguous_network_error_is_settled_with_the_provider_not_resent(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.senders import AmbiguousSendError

    message_id = queue(session_factory, person(session_factory, community), "notice", "Hi")
    twilio = worker.senders.for_kind(ChannelKind.SMS)
    real_send = twilio.send

    def send_then_lose_the_answer(request: Any) -> Any:
        real_send(request)  # Twilio accepted it...
        raise AmbiguousSendError("network error: read timed out")  # ...we never heard

    monkeypatch.setattr(twilio, "send", send_then_lose_the_answer)
    assert dispatch.send_message(message_id) == "unknown: network error: read timed out"
    monkeypatch.setattr(twilio, "send", real_send)
    assert row(db, message_id).status == MessageStatus.SENDING
    assert dispatch.recover_interrupted() == 1
    settled = row(db, message_id)
    assert (settled.status, settled.twilio_sid) == (
        MessageStatus.QUEUED,
        fake_twilio.messages[0].sid,
    )
    assert len(fake_twilio.messages) == 1


# ----- pacing, priority, Messaging Service ------------------------------------------------------


def test_pacing_holds_a_long_code_to_its_rate_and_replies_go_before_bulk(
    session_factory: sessionmaker[Session],
    community: Community,
    worker: Any,
    redis: Redis,
    redis_url: str,
    db: Session,
) -> None:
    for index in range(5):
        person(session_factory, community, f"+1202555017{index}")
    with unit_of_work(session_factory) as session:
        assert queue_broadcast(session, community, "Sandbags at 6") == 5
    notice = queue(session_factory, person(session_factory, community, BEN), "notice", "You're in")
    buckets = TokenBuckets(redis, enabled=True)
    first = dispatcher.dispatch_due(session_factory, redis, buckets)
    # a US long code: 1 message a second, the notice first though it was queued last
    assert (first.enqueued, first.held_back) == (1, 5)
    assert first.retry_after is not None and 0 < first.retry_after <= 1.0
    assert row(db, notice).enqueued_at is not None
    assert len(Queue("replies", connection=redis)) == 1
    assert dispatcher.dispatch_due(session_factory, redis, buckets).enqueued == 0
    # the bucket lives in Redis: another process's dispatcher gets no token either
    other_process = connect(redis_url)
    try:
        other = TokenBuckets(other_process, enabled=True)
        assert dispatcher.dispatch_due(session_factory, other_process, other).enqueued == 0
    finally:
        other_process.close()


def test_a_messaging_service_replaces_the_from_number(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
) -> None:
    service_sid = "MG" + "b" * 32
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).messaging_service_sid = service_sid
    queue(session_factory, person(session_factory, community), "notice", "Hi")
    deliver(session_factory, redis)
    [sent] = fake_twilio.messages
    assert (sent.messaging_service_sid, sent.from_, sent.to) == (service_sid, "", ANA)


def _paced_whatsapp_broadcast(
    factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    *,
    window_open: bool,
) -> list[tuple[float, int]]:
    """A broadcast to 12 volunteers who prefer WhatsApp, with SMS consent and no template,
    that ends up on the community's US long code. Drives the dispatcher and the send jobs on
    a simulated clock shared by the real token buckets; returns (second, SMS messages the
    fake Twilio has accepted by then) after each round."""
    phones = [f"+1303555{index:04d}" for index in range(12)]
    opened = DAY - timedelta(hours=1) if window_open else DAY - timedelta(days=2)
    for phone in phones:
        on_whatsapp(
            factory,
            community,
            db,
            phone=phone,
            whatsapp_inbound_at=opened,
            sms_consent_at=DAY - timedelta(days=30),
        )
        if window_open:
            fake_twilio.close_whatsapp_window(phone)  # WhatsApp answers 63016 anyway
    with unit_of_work(factory) as session:
        assert queue_broadcast(session, community, "Shelter open at the school") == 12
    simulated = [0.0]
    buckets = TokenBuckets(redis, enabled=True, time_source=lambda: 5_000.0 + simulated[0])
    worker.buckets = buckets  # the send jobs take tokens from the same simulated buckets
    progress: list[tuple[float, int]] = []
    while simulated[0] < 60:
        clock.freeze(DAY + timedelta(seconds=simulated[0]))
        dispatcher.dispatch_due(factory, redis, buckets)
        HandsUpWorker(list(outbox.QUEUES), connection=redis).work(burst=True)
        on_sms = [m for m in fake_twilio.messages if m.from_ == COMMUNITY_NUMBER]
        progress.append((simulated[0], len(on_sms)))
        if simulated[0] == 0.0:  # the rest wait for the long code's tokens, on the SMS route
            db.expire_all()
            waiting = db.scalars(
                select(Message).where(Message.status == MessageStatus.PENDING)
            ).all()
            assert len(waiting) == len(phones) - 1
            for row_ in waiting:
                assert (row_.from_address, row_.to_address) in {
                    (COMMUNITY_NUMBER, row_.to_address.removeprefix("whatsapp:")),
                    (f"whatsapp:{WHATSAPP_NUMBER}", row_.to_address),  # not handed over yet
                }
            paced = [r for r in waiting if r.from_address == COMMUNITY_NUMBER]
            assert paced and all(
                "for a token of sender sms:+12025550100" in (r.decision or "") for r in paced
            )
        if len(on_sms) == len(phones):
            break
        simulated[0] += 0.25
    assert sorted(m.to for m in fake_twilio.messages) == phones  # each by SMS, once
    return progress


@pytest.mark.parametrize("window_open", [True, False], ids=["63016-retry", "plan-time-fallback"])
def test_a_whatsapp_broadcast_that_falls_back_to_sms_is_paced_at_the_long_codes_rate(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    frozen: datetime,
    window_open: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pacing belongs to the route actually used: WhatsApp sends 10 a second, but texts that
    fall back to SMS (WhatsApp refused free text with 63016, or the gate chose SMS because
    the window had closed) leave from a US long code, 1 a second with a burst of 1."""
    # The buckets run on a simulated clock; an idle bucket's expiry runs on Redis's real one,
    # which a stalled machine can jump past (a bucket that vanishes refills to its burst).
    monkeypatch.setattr(pacing, "MIN_IDLE_TTL_MS", 3_600_000)
    progress = _paced_whatsapp_broadcast(
        session_factory, community, fake_twilio, worker, redis, db, window_open=window_open
    )
    started = next(second for second, sent in progress if sent > 0)
    too_fast = [(second, sent) for second, sent in progress if sent > 1 + (second - started) * 1.0]
    assert too_fast == [], f"more SMS than the long code's 1/s plus a burst of 1: {too_fast}"
    with session_factory() as session:
        rows = session.scalars(select(Message).where(Message.broadcast_id.is_not(None))).all()
    assert {(m.to_address, m.from_address) for m in rows} == {
        (m.to, COMMUNITY_NUMBER) for m in fake_twilio.messages
    }
    assert {m.status for m in rows} == {MessageStatus.QUEUED}


# ----- delivery callbacks -----------------------------------------------------------------------


def test_carrier_hiccups_are_resent_twice_at_most_and_repeated_failures_flag_the_number(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    sms: SmsHelper,
) -> None:
    ana = person(session_factory, community)
    original = queue(session_factory, ana, "notice", "Shift moved")
    deliver(session_factory, redis)
    later = datetime.now(UTC)
    for round_ in range(3):
        assert sms.status(fake_twilio.messages[-1].sid, "undelivered", "30003") == 204
        later += timedelta(minutes=11)
        clock.freeze(later)
        try:
            deliver(session_factory, redis)
        finally:
            clock.freeze(None)
        assert len(fake_twilio.messages) == min(round_ + 2, 3)
    resends = db.scalars(select(Message).where(Message.retry_of_id == original)).all()
    assert [m.idempotency_key for m in resends] == [
        f"resend:{original}:1",
        f"resend:{original}:2",
    ]
    stored = row(db, original)
    assert stored.error_message == (
        "the phone is unreachable (switched off or out of coverage) (30003)"
    )
    volunteer = db.get_one(Volunteer, ana)
    assert (volunteer.undelivered_streak, volunteer.unreachable_at is not None) == (3, True)
    queue(session_factory, ana, "notice", "Thanks for today")
    deliver(session_factory, redis)
    assert sms.status(fake_twilio.messages[-1].sid, "delivered") == 204  # the number works again
    db.expire_all()
    volunteer = db.get_one(Volunteer, ana)
    assert (volunteer.undelivered_streak, volunteer.unreachable_at) == (0, None)


def test_a_status_callback_that_outruns_the_send_job_is_matched_by_our_message_id(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    db: Session,
    sms: SmsHelper,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message_id = queue(session_factory, person(session_factory, community), "notice", "Hi")
    twilio = worker.senders.for_kind(ChannelKind.SMS)
    real_send = twilio.send

    def send_and_hear_back_at_once(request: Any) -> Any:
        result = real_send(request)
        path = request.status_callback.removeprefix("https://handsup.example.org")
        form = {"MessageSid": result.sid, "MessageStatus": "delivered"}
        assert sms.post(path, form).status == 204
        return result

    monkeypatch.setattr(twilio, "send", send_and_hear_back_at_once)
    assert dispatch.send_message(message_id).startswith("sent: SM")
    stored = row(db, message_id)
    assert (stored.status, stored.twilio_sid) == (
        MessageStatus.DELIVERED,  # not moved back to "queued" by the job's own record
        fake_twilio.messages[0].sid,
    )


# ----- broadcasts -------------------------------------------------------------------------------


def test_a_broadcast_is_one_row_per_recipient_with_its_cost_shown_before_sending(
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
) -> None:
    person(session_factory, community, ANA, language="en", skills=["driver"])
    person(session_factory, community, BEN, language="hi")
    person(session_factory, community, "+12025550163", status=VolunteerStatus.OPTED_OUT)
    text = "Road to the school is closed, use Mill Lane"
    with session_factory() as session:
        place = session.get_one(Community, community.id)
        preview = preview_broadcast(session, place, text)
        drivers = preview_broadcast(session, place, text, Segment(skill="driver"))
    assert (preview.recipients, preview.segments) == (2, 2)
    assert [(p.language, p.recipients, p.encoding) for p in preview.languages] == [
        ("en", 1, "GSM-7"),
        ("hi", 1, "GSM-7"),
    ]
    assert drivers.recipients == 1
    with unit_of_work(session_factory) as session:
        assert queue_broadcast(session, session.get_one(Community, community.id), text) == 2
    rows = db.scalars(
        select(Message).where(Message.direction == Direction.OUTBOUND).order_by(Message.id)
    ).all()
    assert [(m.to_address, m.priority, m.status) for m in rows] == [
        (ANA, Priority.BULK, MessageStatus.PENDING),
        (BEN, Priority.BULK, MessageStatus.PENDING),
    ]
    assert {m.broadcast_id for m in rows} != {None}
    assert rows[0].body == f"Riverside Flood Crew: {text}"


def test_a_500_person_broadcast_from_one_us_long_code_is_spread_over_about_500_seconds(
    session_factory: sessionmaker[Session],
    community: Community,
    worker: Any,
    redis: Redis,
    db: Session,
) -> None:
    with unit_of_work(session_factory) as session:
        session.execute(
            insert(Volunteer),
            [
                {
                    "community_id": community.id,
                    "phone": f"+1303555{index:04d}",
                    "name": f"V{index}",
                    "status": VolunteerStatus.ACTIVE,
                    "skills": [],
                }
                for index in range(500)
            ],
        )
    with unit_of_work(session_factory) as session:
        assert queue_broadcast(session, community, "Shelter open at the school") == 500
    simulated = [1_000.0]  # seconds on the bucket's clock, advanced by the loop
    buckets = TokenBuckets(redis, enabled=True, time_source=lambda: simulated[0])
    handed_at: list[float] = []
    notice_at: float | None = None
    while len(handed_at) < 501 and simulated[0] < 2_000:
        if notice_at is None and len(handed_at) == 250:  # someone texts in mid-broadcast
            notice = queue(session_factory, person(session_factory, community, BEN), "notice")
            notice_queued = simulated[0]
            notice_at = -1.0
        report = dispatcher.dispatch_due(session_factory, redis, buckets)
        handed_at.extend([simulated[0]] * report.enqueued)
        if notice_at == -1.0 and row(db, notice).enqueued_at is not None:
            notice_at = simulated[0]
        simulated[0] += 0.5  # the pump runs again within a second when a sender is throttled
    assert len(handed_at) == 501
    spread = handed_at[-1] - handed_at[0]
    assert 495 <= spread <= 501, spread  # one a second, no burst
    assert max(handed_at.count(t) for t in set(handed_at)) == 1
    # the reply went out with the next token, not after the remaining 250 broadcasts
    assert notice_at is not None and 0 <= notice_at - notice_queued <= 1.0


def test_a_long_batch_keeps_the_lease_of_rows_it_already_sent_until_it_records_them(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    frozen: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = queue(session_factory, person(session_factory, community), "notice", "one")
    second = queue(session_factory, person(session_factory, community, BEN), "notice", "two")
    monkeypatch.setattr(dispatch, "RENEW_EVERY", 0.0)
    monkeypatch.setattr(dispatch, "lanes_for", lambda jobs, latency: 1)  # one after the other
    twilio = worker.senders.for_kind(ChannelKind.SMS)
    real_send = twilio.send
    leases: list[datetime | None] = []

    def slow_send(request: Any) -> Any:
        if request.body == "one":
            clock.freeze(frozen + timedelta(seconds=15))  # the first send took 15 s
        else:
            with session_factory() as session:
                leases.append(session.get_one(Message, first).lease_until)
        return real_send(request)

    monkeypatch.setattr(twilio, "send", slow_send)
    assert dispatch.send_batch([first, second]) == "sent 2"
    # renewed before the second send: the already-sent first row is not up for recovery
    assert leases == [frozen + timedelta(seconds=15) + dispatch.LEASE]


def test_an_outcome_for_a_row_settled_meanwhile_does_not_overwrite_it(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.senders import TransientSendError

    message_id = queue(session_factory, person(session_factory, community), "notice", "Hi")
    twilio = worker.senders.for_kind(ChannelKind.SMS)

    def settled_elsewhere_then_fail(request: Any) -> Any:
        # the recovery sweep of another worker adopted the row (its lease had run out)
        with unit_of_work(session_factory) as session:
            row_ = session.get_one(Message, message_id)
            row_.status, row_.twilio_sid = MessageStatus.QUEUED, "SM" + "e" * 32
        raise TransientSendError("HTTP 503", code=20503, http_status=503)

    monkeypatch.setattr(twilio, "send", settled_elsewhere_then_fail)
    dispatch.send_message(message_id)
    stored = row(db, message_id)
    assert (stored.status, stored.twilio_sid, stored.attempts) == (
        MessageStatus.QUEUED,
        "SM" + "e" * 32,
        0,
    )
