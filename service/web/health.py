"""Liveness and readiness probes for the PaaS router and for operators.

``/readyz`` answers up or down (and which dependency is down) to anyone. With
``Authorization: Bearer <HANDSUP_METRICS_TOKEN>`` it also reports the figures an operator
watches: RQ queue depths and failed jobs, the outbox backlog, messages waiting to be sent, texts
waiting to be answered (deferred under surge) and the age of the oldest, send failures in the
last hour, and configuration warnings.
"""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from redis import Redis
from redis.exceptions import RedisError, ResponseError
from rq import Queue
from rq.registry import FailedJobRegistry
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service import clock
from service.models import Direction, Message, MessageStatus, OutboxItem, is_waiting
from service.sending.outbox import QUEUES
from service.web.extensions import resources

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    res = resources()
    checks: dict[str, str] = {}
    warnings: list[str] = []
    try:
        with res.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        log.warning("readyz: database unreachable: %s", exc)
        checks["database"] = "unreachable"
    try:
        res.redis.ping()
        checks["redis"] = "ok"
        warnings.extend(_redis_policy_warnings(res.redis))
    except RedisError as exc:
        log.warning("readyz: Redis unreachable: %s", exc)
        checks["redis"] = "unreachable"
    ready = all(v == "ok" for v in checks.values())
    status = "ok" if ready else "unavailable"
    if not _may_see_figures(res.settings.metrics_token):
        return jsonify(status=status, checks=checks), (200 if ready else 503)
    metrics: dict[str, Any] = {}
    if checks["redis"] == "ok":
        metrics.update(_queue_metrics(res.redis))
    if checks["database"] == "ok":
        metrics.update(_database_metrics(res.engine))
    body = jsonify(status=status, checks=checks, warnings=warnings, metrics=metrics)
    return body, (200 if ready else 503)


def _may_see_figures(token: str | None) -> bool:
    """The figures need ``Authorization: Bearer <HANDSUP_METRICS_TOKEN>``; unset: nobody."""
    given = request.headers.get("Authorization", "")
    if not token or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").strip().encode(), token.encode())


def _queue_metrics(redis: Redis) -> dict[str, Any]:
    try:
        queues = {name: Queue(name, connection=redis) for name in QUEUES}
        return {
            "queue_depth": {name: queue.count for name, queue in queues.items()},
            "failed_jobs": sum(FailedJobRegistry(queue=queue).count for queue in queues.values()),
        }
    except RedisError as exc:
        log.warning("readyz: queue metrics unavailable: %s", exc)
        return {}


FAILURES = (MessageStatus.FAILED, MessageStatus.UNDELIVERED)


def _database_metrics(engine: Engine) -> dict[str, Any]:
    now = clock.now()
    since = now - timedelta(hours=1)
    try:
        with Session(engine) as session:
            outbox_pending = session.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.done_at.is_(None))
            )
            waiting = session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.status.in_((MessageStatus.PENDING, MessageStatus.SENDING)))
            )
            failures = session.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.status.in_(FAILURES),
                    Message.direction == Direction.OUTBOUND,
                    Message.updated_at >= since,
                )
            )
            # Read from the partial index of waiting texts: as cheap as the backlog is small.
            to_answer, oldest = session.execute(
                select(func.count(), func.min(Message.created_at)).where(is_waiting())
            ).one()
        return {
            "outbox_pending": outbox_pending or 0,
            "messages_waiting": waiting or 0,
            "texts_to_answer": to_answer or 0,
            "oldest_text_to_answer_seconds": (
                0.0 if oldest is None else round(max((now - oldest).total_seconds(), 0.0), 1)
            ),
            "send_failures_last_hour": failures or 0,
        }
    except SQLAlchemyError as exc:
        log.warning("readyz: database metrics unavailable: %s", exc)
        return {}


def _redis_policy_warnings(redis: Redis) -> list[str]:
    try:
        policy = redis.config_get("maxmemory-policy").get("maxmemory-policy")
    except ResponseError:  # CONFIG is disabled on some managed Redis plans
        return []
    if policy not in (None, "noeviction"):
        return [f"Redis maxmemory-policy is {policy}; set noeviction or queued jobs can vanish"]
    return []
