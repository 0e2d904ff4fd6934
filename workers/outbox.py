"""Run one outbox row's job, then mark the row done. Re-running a done row does nothing. A job
may raise ``Defer`` (directly, or through ``defer_past_quiet_hours``) to run again later.

After the job, due messages are dispatched at once, so a reminder does not wait for the pump.
"""

from __future__ import annotations

from datetime import datetime

from rq.utils import import_attribute

from service.db import unit_of_work, utcnow
from service.models import Community, MessageKind, OutboxItem
from service.sending import eligibility
from service.sending.dispatcher import dispatch_due
from service.sending.outbox import enqueue_due
from workers.runtime import runtime

ALLOWED_PREFIX = "workers."


class Defer(Exception):
    """Raised by a job to run again at ``until`` (quiet hours): the row waits, not done."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"deferred until {until.isoformat()}")
        self.until = until


def defer_past_quiet_hours(
    community: Community, kind: MessageKind, now: datetime, send_before: datetime
) -> None:
    """Raise ``Defer`` to the end of quiet hours when a text of ``kind`` due now falls in them
    and may still go before ``send_before`` (the send gate's rule, ``eligibility.quiet_wait``)."""
    until = eligibility.quiet_wait(community, kind, now, send_before=send_before)
    if until is not None:
        raise Defer(until)


def run_item(outbox_id: int) -> str:
    rt = runtime()
    with unit_of_work(rt.session_factory) as session:
        item = session.get(OutboxItem, outbox_id)
        if item is None or item.done_at is not None:
            return "skipped: done"
        job, payload = item.job, dict(item.payload)
    if not job.startswith(ALLOWED_PREFIX):
        raise ValueError(f"outbox job {job!r} is outside {ALLOWED_PREFIX}")
    try:
        result = import_attribute(job)(**payload)
    except Defer as deferral:
        with unit_of_work(rt.session_factory) as session:
            waiting = session.get_one(OutboxItem, outbox_id)
            waiting.available_at = deferral.until
            waiting.enqueued_at = None
        return str(deferral)
    with unit_of_work(rt.session_factory) as session:
        done = session.get_one(OutboxItem, outbox_id)
        done.done_at = utcnow()
    dispatch_due(rt.session_factory, rt.redis, rt.buckets)  # the texts the job queued go now
    return str(result)


def pump() -> int:
    """Enqueue every due outbox row (the periodic sweep; also safe to call any time)."""
    rt = runtime()
    return enqueue_due(rt.session_factory, rt.redis, buckets=rt.buckets)
