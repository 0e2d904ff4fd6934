"""Liveness and readiness probes for the PaaS router and for operators."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from redis import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.extensions import resources

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
    return jsonify(status="ok" if ready else "unavailable", checks=checks, warnings=warnings), (
        200 if ready else 503
    )


def _redis_policy_warnings(redis: Redis) -> list[str]:
    try:
        policy = redis.config_get("maxmemory-policy").get("maxmemory-policy")
    except ResponseError:  # CONFIG is disabled on some managed Redis plans
        return []
    if policy not in (None, "noeviction"):
        return [f"Redis maxmemory-policy is {policy}; set noeviction or queued jobs can vanish"]
    return []
