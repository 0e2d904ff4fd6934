"""``/readyz`` carries the operator's figures: queue depths, failed jobs, outbox backlog,
messages waiting, texts to answer and the oldest one's age, and send failures in the last
hour; only for the bearer of ``HANDSUP_METRICS_TOKEN`` (anyone else learns up or down)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.app import create_app
from service.config import Settings
from service.db import unit_of_work
from service.models import Community, Direction, Message, MessageKind, MessageStatus, Volunteer
from service.sending import outbox
from service.sending.queue import queue_message
from workers.worker import HandsUpWorker

TOKEN = "metrics-token-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def message(
    community: Community, direction: Direction, status: MessageStatus, **times: datetime
) -> Message:
    """A text between the community's number and a volunteer, in ``direction``."""
    ours, theirs = "+12025550100", "+12025550123"
    outbound = direction == Direction.OUTBOUND
    return Message(
        community_id=community.id,
        direction=direction,
        kind="notice" if outbound else "inbound",
        from_address=ours if outbound else theirs,
        to_address=theirs if outbound else ours,
        status=status,
        **times,
    )


def explode() -> None:
    raise RuntimeError("a job that fails")


@pytest.fixture
def operator(settings: Settings) -> FlaskClient:
    """A client of an app whose figures need ``TOKEN``; it sends the token."""
    client = create_app(settings.replace(metrics_token=TOKEN)).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return client


def test_readyz_figures_need_the_metrics_token(settings: Settings, client: FlaskClient) -> None:
    for app_client, headers in (
        (client, BEARER),  # no token configured: nobody sees the figures
        (create_app(settings.replace(metrics_token=TOKEN)).test_client(), {}),
        (
            create_app(settings.replace(metrics_token=TOKEN)).test_client(),
            {"Authorization": "Bearer wrong"},
        ),
    ):
        body = app_client.get("/readyz", headers=headers).json
        assert body is not None
        assert body == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_reports_backlog_and_failures(
    operator: FlaskClient,
    session_factory: sessionmaker[Session],
    community: Community,
    redis: Redis,
) -> None:
    empty = operator.get("/readyz").json
    assert empty is not None
    assert empty["metrics"] == {
        "queue_depth": {"replies": 0, "default": 0, "bulk": 0},
        "failed_jobs": 0,
        "outbox_pending": 0,
        "messages_waiting": 0,
        "texts_to_answer": 0,
        "oldest_text_to_answer_seconds": 0.0,
        "send_failures_last_hour": 0,
    }
    now = clock.now()
    with unit_of_work(session_factory) as session:
        volunteer = Volunteer(community_id=community.id, phone="+12025550123", consent_at=now)
        session.add(volunteer)
        session.flush()
        queue_message(
            session, volunteer=volunteer, body="Hi", kind=MessageKind.NOTICE, idempotency_key="a"
        )
        outbox.add(session, job="workers.outbox.noop", payload={}, dedupe_key="k1")
        for minutes_ago, status in ((5, MessageStatus.FAILED), (90, MessageStatus.UNDELIVERED)):
            ago = now - timedelta(minutes=minutes_ago)
            session.add(message(community, Direction.OUTBOUND, status, updated_at=ago))
        for seconds_ago in (40, 7):  # texts deferred under surge, not answered yet
            ago = now - timedelta(seconds=seconds_ago)
            session.add(
                message(community, Direction.INBOUND, MessageStatus.RECEIVED, created_at=ago)
            )
    bulk = Queue("bulk", connection=redis)
    bulk.enqueue("tests.service.test_readyz_metrics.explode")
    bulk.enqueue("tests.service.test_readyz_metrics.explode")
    HandsUpWorker([bulk], connection=redis).work(burst=True, max_jobs=1)
    Queue("replies", connection=redis).enqueue("tests.service.test_readyz_metrics.explode")

    metrics = operator.get("/readyz").json["metrics"]  # type: ignore[index]
    assert metrics["queue_depth"] == {"replies": 1, "default": 0, "bulk": 1}
    assert metrics["failed_jobs"] == 1
    assert metrics["outbox_pending"] == 1
    assert metrics["messages_waiting"] == 1
    assert metrics["texts_to_answer"] == 2
    assert 40.0 <= metrics["oldest_text_to_answer_seconds"] < 40.0 + 60  # the older one
    assert metrics["send_failures_last_hour"] == 1  # the older failure is outside the hour
