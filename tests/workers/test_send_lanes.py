"""How many sends a batch keeps in flight: enough for its sender's rate at Twilio's latency.

Twilio takes 100-300 ms to accept a message. With a fixed four lanes a worker sends about
20/s, a fifth of what a short code may. ``workers.dispatch.lanes_for`` sizes a batch's lanes
from each sender's rate and the latency the worker has measured; the token buckets still keep
the rate. These tests post real batches through the SDK to the fake Twilio server and read how
many requests it had open at once.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from service.db import unit_of_work
from service.models import Channel, ChannelKind, Community, Message, MessageStatus
from service.sending.gate import sender_for
from service.sending.planning import Attempt, PlannedSend, WireRoute
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
    worker.latency = 0.2  # as measured: 100/s x 0.2 s x 1.25 headroom = 25 lanes

    assert dispatch.send_batch(ids) == "sent 60"

    # four fixed lanes never had more than 4 open; the threads may start late on a busy
    # machine, but each request stays open half a second
    assert fake_twilio.stats()["max_in_flight"] >= 20
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
        (100.0, 0.2, 100, 25),  # a short code at Twilio's typical latency
        (80.0, 0.25, 100, 25),  # a high-tier WhatsApp sender
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
