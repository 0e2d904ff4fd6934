"""Every delivery outcome means what Twilio says it means: a late 'delivered' cancels the
resend of a 30003, an unknown number or a landline (30005/30006) gets nothing more after the
first error, carrier filtering (30007) is counted against the sender and never the volunteer
(and pauses its broadcasts past a threshold), 'canceled' is recorded, and a callback for a
text retention cleared changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import clock
from service.db import unit_of_work
from service.models import Channel, ChannelKind, Community, Message, MessageStatus, Volunteer
from service.sending.broadcasts import queue_broadcast
from service.sending.delivery import FILTERED_PAUSE_AFTER
from service.volunteers import privacy
from tests.conftest import SmsHelper
from tests.fakes.twilio_server import FakeTwilio
from tests.workers.test_outbound_engine import ANA, BEN, deliver, person, queue, row


def later(factory: sessionmaker[Session], redis: Redis, minutes: int) -> None:
    """Deliver what is due ``minutes`` from now."""
    clock.freeze(datetime.now(UTC) + timedelta(minutes=minutes))
    try:
        deliver(factory, redis)
    finally:
        clock.freeze(None)


def sms_channel(db: Session, community: Community) -> Channel:
    db.expire_all()
    channel = db.scalars(
        select(Channel).where(Channel.community_id == community.id, Channel.kind == ChannelKind.SMS)
    ).one()
    db.commit()
    return channel


def test_30003_then_delivered_cancels_the_resend(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    sms: SmsHelper,
) -> None:
    ana = person(session_factory, community)
    original = queue(session_factory, ana, "notice", "Shift moved to 10:00")
    deliver(session_factory, redis)
    sid = fake_twilio.messages[-1].sid
    assert sms.status(sid, "undelivered", "30003") == 204
    resend = db.scalars(select(Message).where(Message.retry_of_id == original)).one()
    assert resend.status == MessageStatus.PENDING
    db.commit()
    assert sms.status(sid, "delivered") == 204  # the carrier's late receipt: it arrived
    later(session_factory, redis, 11)
    assert len(fake_twilio.messages) == 1  # never a second copy
    assert row(db, original).status == MessageStatus.DELIVERED
    cancelled = row(db, resend.id)
    assert cancelled.status == MessageStatus.SUPPRESSED
    assert cancelled.decision == "not resent: delivered after all"
    assert db.get_one(Volunteer, ana).undelivered_streak == 0


def test_30003_without_a_late_receipt_is_still_resent(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    sms: SmsHelper,
) -> None:
    ana = person(session_factory, community)
    queue(session_factory, ana, "notice", "Shift moved to 10:00")
    deliver(session_factory, redis)
    assert sms.status(fake_twilio.messages[-1].sid, "undelivered", "30003") == 204
    later(session_factory, redis, 11)
    assert len(fake_twilio.messages) == 2


def test_30005_and_30006_stop_every_text_after_the_first_error(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    sms: SmsHelper,
) -> None:
    for phone, code in ((ANA, "30005"), (BEN, "30006")):
        volunteer = person(session_factory, community, phone=phone)
        queue(session_factory, volunteer, "notice", f"Hello {code}")
        deliver(session_factory, redis)
        assert sms.status(fake_twilio.messages[-1].sid, "undelivered", code) == 204
        db.expire_all()
        flagged = db.get_one(Volunteer, volunteer)
        assert flagged.unreachable_at is not None and flagged.unreachable_code == int(code)
        assert flagged.undelivered_streak == 0  # the first error is enough
        db.commit()
        sent = len(fake_twilio.messages)
        reminder = queue(session_factory, volunteer, "reminder", "Your shift is tomorrow")
        deliver(session_factory, redis)
        later(session_factory, redis, 11)  # and no resend of the first text either
        assert len(fake_twilio.messages) == sent
        stopped = row(db, reminder)
        assert stopped.status == MessageStatus.SUPPRESSED
        assert "unknown to the carrier or a landline" in (stopped.decision or "")
    # a broadcast leaves them out too
    with unit_of_work(session_factory) as session:
        assert queue_broadcast(session, session.get_one(Community, community.id), "News") == 0
    # a text from the number shows it works: it is reachable again
    assert sms.send(ANA, "HELP")
    db.expire_all()
    assert (
        db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one().unreachable_code is None
    )


def test_the_dashboard_lists_a_dead_number_as_unreachable(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    sms: SmsHelper,
    db: Session,
) -> None:
    from service.web.console.read_models.dashboard import build

    ana = person(session_factory, community)
    queue(session_factory, ana, "notice", "Hello")
    deliver(session_factory, redis)
    assert sms.status(fake_twilio.messages[-1].sid, "undelivered", "30006") == 204
    db.expire_all()
    board = build(db, db.get_one(Community, community.id), clock.now())
    assert [v.id for v in board.unreachable] == [ana]


def test_30007_is_never_counted_against_the_volunteer_but_against_the_sender(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    sms: SmsHelper,
) -> None:
    ana = person(session_factory, community)
    for n in range(FILTERED_PAUSE_AFTER - 1):
        queue(session_factory, ana, "notice", f"Update {n}")
        deliver(session_factory, redis)
        assert sms.status(fake_twilio.messages[-1].sid, "undelivered", "30007") == 204
    db.expire_all()
    volunteer = db.get_one(Volunteer, ana)
    assert volunteer.undelivered_streak == 0 and volunteer.unreachable_at is None
    db.commit()
    channel = sms_channel(db, community)
    assert channel.filtered_count == FILTERED_PAUSE_AFTER - 1
    assert channel.bulk_paused_at is None
    sent = len(fake_twilio.messages)
    later(session_factory, redis, 11)
    assert len(fake_twilio.messages) == sent  # 30007 is never resent


def test_30007_past_the_threshold_pauses_broadcasts_from_that_sender(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    sms: SmsHelper,
) -> None:
    ana = person(session_factory, community)
    person(session_factory, community, phone=BEN)
    for n in range(FILTERED_PAUSE_AFTER):
        queue(session_factory, ana, "notice", f"Update {n}")
        deliver(session_factory, redis)
        assert sms.status(fake_twilio.messages[-1].sid, "undelivered", "30007") == 204
    assert sms_channel(db, community).bulk_paused_at is not None
    sent = len(fake_twilio.messages)
    with unit_of_work(session_factory) as session:
        assert queue_broadcast(session, session.get_one(Community, community.id), "News") == 2
    deliver(session_factory, redis)
    assert len(fake_twilio.messages) == sent  # held, not sent
    db.expire_all()
    held = db.scalars(select(Message).where(Message.broadcast_id.is_not(None))).all()
    assert held and all("carrier filtering (30007)" in (m.decision or "") for m in held)
    db.commit()
    queue(session_factory, ana, "reminder", "Your shift is tomorrow")  # not bulk: goes
    deliver(session_factory, redis)
    assert len(fake_twilio.messages) == sent + 1
    later(session_factory, redis, 25 * 60)  # after the pause, the broadcast goes
    assert len(fake_twilio.messages) == sent + 3


def test_the_dashboard_shows_carrier_filtering_per_sender(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    sms: SmsHelper,
) -> None:
    from service.web.console.read_models.dashboard import build

    ana = person(session_factory, community)
    queue(session_factory, ana, "notice", "Update")
    deliver(session_factory, redis)
    assert sms.status(fake_twilio.messages[-1].sid, "undelivered", "30007") == 204
    db.expire_all()
    board = build(db, db.get_one(Community, community.id), clock.now())
    assert [(c.address, c.filtered_count) for c in board.filtered_senders] == [("+12025550100", 1)]


def test_canceled_is_recorded(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    sms: SmsHelper,
) -> None:
    message = queue(session_factory, person(session_factory, community), "notice", "Hi")
    deliver(session_factory, redis)
    assert sms.status(fake_twilio.messages[-1].sid, "canceled") == 204
    assert row(db, message).status == MessageStatus.CANCELED
    assert sms.status(fake_twilio.messages[-1].sid, "sent") == 204  # never backwards
    assert row(db, message).status == MessageStatus.CANCELED


def test_a_status_for_a_text_retention_cleared_changes_nothing(
    session_factory: sessionmaker[Session],
    community: Community,
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    sms: SmsHelper,
) -> None:
    ana = person(session_factory, community)
    message = queue(session_factory, ana, "notice", "Old news")
    deliver(session_factory, redis)
    sid = fake_twilio.messages[-1].sid
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).retention_days = 1
        session.get_one(Message, message).created_at = clock.now() - timedelta(days=3)
    with unit_of_work(session_factory) as session:
        assert privacy.apply_retention(session, clock.now()) == 1
    assert sms.status(sid, "undelivered", "30003") == 204
    later(session_factory, redis, 11)
    assert len(fake_twilio.messages) == 1  # nothing left to send again: no empty text
    assert db.scalars(select(Message).where(Message.retry_of_id == message)).all() == []
    db.commit()
    # and a callback for a row that is gone altogether is ignored without error
    with unit_of_work(session_factory) as session:
        session.delete(session.get_one(Message, message))
    assert sms.status(sid, "delivered") == 204
    db.expire_all()
    assert db.get_one(Volunteer, ana).status == VolunteerStatus.ACTIVE
