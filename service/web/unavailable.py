"""Answering 503 + ``Retry-After`` when the database is unreachable, instead of a 500.

A PostgreSQL restart, failover or network blip surfaces as a SQLAlchemy ``OperationalError``
(or ``InterfaceError``, a connection invalidated mid-statement, a pool checkout timeout). None of
them is a bug in the request: the same request succeeds once the database is back, so the
caller (Twilio, a PaaS router, a browser) is told to retry. SQLAlchemy has already invalidated
the broken pooled connection by the time the error reaches us, and the engine's
``pool_pre_ping`` (``service.db.make_engine``) replaces stale ones on the next checkout, so no
request after the outage inherits a dead connection. Imports Flask, SQLAlchemy and
``service.db``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, request
from sqlalchemy import exc as sa_exc

from service.db import describe_error, is_database_unavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def unavailable_response() -> Response:
    response = Response(
        "Service unavailable: the database cannot be reached; retry shortly\n",
        status=503,
        mimetype="text/plain",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _handle(error: sa_exc.SQLAlchemyError) -> Response:
    if not is_database_unavailable(error):
        raise error  # a real bug: let Flask answer 500 and the error reporter see it
    log.warning(
        "database unavailable during %s %s; answered 503 (%s)",
        request.method,
        request.path,
        describe_error(error),
    )
    return unavailable_response()


def init_blueprint(target: Blueprint | Flask) -> None:
    """Answer 503 for database outages in ``target``'s views (a blueprint or the whole app)."""
    target.register_error_handler(sa_exc.SQLAlchemyError, _handle)
