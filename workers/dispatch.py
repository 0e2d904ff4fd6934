"""Send outbound messages through the send gate, in batches, exactly once.

``send_batch(ids)`` (the job the dispatcher enqueues) claims its rows atomically (pending ->
sending, under a lease), runs the send gate (``service.sending.gate``) on each, sends what may go
over one pooled connection, and records every outcome on the row: sent, deferred until T,
suppressed and why, retried later with backoff, or failed with the provider's reason. A job
run twice, or two workers racing for the same rows, claim each row once.

``recover_interrupted`` handles rows whose lease ran out (their worker was killed mid-send):
it asks the provider whether the message was accepted after all and adopts it, or sends it
again, so a killed worker neither loses nor doubles a message.
"""

from __future__ import annotations

import logging
import random
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service import clock
from service.conversations.effects import opt_out
from service.db import take_sqlite_write_lock, unit_of_work
from service.models import (
    CallOut,
    CallOutStatus,
    Channel,
    ChannelKind,
    Community,
    Message,
    MessageStatus,
    Volunteer,
)
from service.models.messages import ASK_KINDS, STATUS_RANK, provider_status
from service.sending import gate as send_gate
from service.sending.delivery import UNSUBSCRIBED, WINDOW_CLOSED, mark_unreachable, reason_for
from service.sending.dispatcher import sender_info
from service.sending.queue import NO_CHANNEL, recipient_for, rules_for
from service.volunteers.phones import mask
from workers.runtime import SEND_THREADS, Runtime, runtime
from workers.senders import (
    AmbiguousSendError,
    PermanentSendError,
    SendError,
    SendRequest,
    SendResult,
    TransientSendError,
)

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=20)  # a claimed row whose worker died is recovered after this
RENEW_EVERY = 5.0  # seconds between lease renewals during a long batch
SEND_LANES = SEND_THREADS  # concurrent sends per batch (see workers.runtime)
MAX_ATTEMPTS = 5
BACKOFF_BASE = 15.0  # seconds before the first retry; doubled each time, with jitter
BACKOFF_CAP = 15 * 60.0
INVALID_NUMBER_CODES = frozenset({21211, 21614})
RECOVERY_BATCH = 100
LOOKUP_SLACK = timedelta(minutes=1)  # clock skew between us and the provider


class DeliveryFailed(Exception):
    """Raised by ``send_batch`` after recording, so RQ files the job as failed."""


@dataclass(frozen=True)
class Route:
    """Where a message goes: the channel it leaves from and the addresses on the wire."""

    channel: Channel
    from_address: str
    to_address: str
    content_sid: str | None = None


@dataclass(frozen=True)
class Attempt:
    route: Route
    request: SendRequest
    note: str


@dataclass
class Job:
    message_id: int
    volunteer_id: int | None
    first: Attempt
    # For WhatsApp free text: what to do if the provider says the window has closed.
    fallback: Attempt | send_gate.Suppress | None = None


@dataclass
class Outcome:
    message_id: int
    kind: str  # sent | suppressed | failed | retry | ambiguous
    note: str
    route: Route | None = None
    result: SendResult | None = None
    error: SendError | None = None
    window_closed: bool = False


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)
    lines: dict[int, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, message_id: int, kind: str, line: str) -> None:
        self.counts[kind] += 1
        self.lines[message_id] = line
        if kind == "failed":
            self.failures.append(f"message {message_id}: {line}")

    def summary(self) -> str:
        return ", ".join(f"{kind} {n}" for kind, n in sorted(self.counts.items())) or "nothing"


def send_batch(message_ids: list[int]) -> str:
    """The dispatcher's job: send these messages (those still pending) and record outcomes."""
    report = deliver(runtime(), message_ids)
    if report.failures:
        raise DeliveryFailed("; ".join(report.failures))
    return report.summary()


def send_message(message_id: int) -> str:
    """Send one message now (a reminder job's own text); paced like the dispatcher."""
    rt = runtime()
    if rt.buckets.enabled and not _take_token(rt, message_id):
        return "paced: the dispatcher sends it when its sender has capacity"
    report = deliver(rt, [message_id])
    return report.lines.get(message_id, "skipped: not pending")


def deliver(rt: Runtime, message_ids: Sequence[int]) -> Report:
    now = clock.now()
    report = Report()
    with unit_of_work(rt.session_factory) as session:
        claimed = _claim(session, message_ids, now)
        jobs = _plan(rt, session, claimed, now, report) if claimed else []
    if not claimed:
        report.counts["skipped"] += len(message_ids)
        return report
    outcomes = _send_all(rt, jobs)
    if outcomes:
        with unit_of_work(rt.session_factory) as session:
            _record(session, outcomes, clock.now(), report)
    return report


def _claim(session: Session, message_ids: Sequence[int], now: datetime) -> list[int]:
    """pending -> sending for the due rows no one else has claimed; returns their ids.

    A row waiting for a retry or for quiet hours is not due: a late duplicate job leaves it."""
    claimed = session.scalars(
        update(Message)
        .where(
            Message.id.in_(list(message_ids)),
            Message.status == MessageStatus.PENDING,
            Message.not_before <= now,
        )
        .values(status=MessageStatus.SENDING, claimed_at=now, lease_until=now + LEASE)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(claimed)


def _plan(
    rt: Runtime, session: Session, ids: list[int], now: datetime, report: Report
) -> list[Job]:
    """Run the gate on each claimed row: record suppressions and deferrals, return sends."""
    messages = session.scalars(
        select(Message).where(Message.id.in_(ids)).execution_options(populate_existing=True)
    ).all()
    volunteer_ids = {m.volunteer_id for m in messages if m.volunteer_id is not None}
    volunteers = {
        v.id: v for v in session.scalars(select(Volunteer).where(Volunteer.id.in_(volunteer_ids)))
    }
    community_ids = {m.community_id for m in messages}
    communities = {
        c.id: c for c in session.scalars(select(Community).where(Community.id.in_(community_ids)))
    }
    channels_of: dict[int, list[Channel]] = defaultdict(list)
    for row in session.scalars(select(Channel).where(Channel.community_id.in_(community_ids))):
        channels_of[row.community_id].append(row)
    channels = {c.id: c for group in channels_of.values() for c in group}
    rules = {cid: rules_for(communities[cid], channels_of[cid]) for cid in community_ids}
    open_callouts = _open_callouts(session, {m.callout_id for m in messages if m.callout_id})
    asks = _asks_this_week(session, messages, volunteer_ids, now)
    jobs: list[Job] = []
    for message in messages:
        channel = channels.get(message.channel_id) if message.channel_id else None
        if channel is None:
            _finish(message, MessageStatus.FAILED, NO_CHANNEL, report)
            continue
        volunteer = volunteers.get(message.volunteer_id) if message.volunteer_id else None
        community = communities[message.community_id]
        recipient = recipient_for(volunteer, asks.get(message.volunteer_id or 0, 0))
        outbound = send_gate.Outbound(
            message.kind,
            channel.kind,
            message.send_before,
            callout_open=message.callout_id is None or message.callout_id in open_callouts,
        )
        decision = send_gate.decide(outbound, recipient, rules[community.id], now)
        if isinstance(decision, send_gate.Suppress):
            _finish(message, MessageStatus.SUPPRESSED, decision.describe(), report)
            continue
        if isinstance(decision, send_gate.Defer):
            _wait(message, decision.until, decision.describe())
            report.add(message.id, "deferred", decision.describe())
            continue
        attempt = _attempt(rt, message, community, channels_of[community.id], volunteer, decision)
        message.channel_id = attempt.route.channel.id  # the row shows the route it takes
        message.from_address = attempt.route.from_address
        message.to_address = attempt.route.to_address
        message.content_sid = attempt.route.content_sid
        job = Job(message.id, message.volunteer_id, attempt)
        if channel.kind == ChannelKind.WHATSAPP and decision.route is send_gate.Route.FREEFORM:
            closed = send_gate.whatsapp_route(
                message.kind, replace(recipient, whatsapp_inbound_at=None), rules[community.id], now
            )
            if isinstance(closed, send_gate.Send):
                job.fallback = _attempt(
                    rt, message, community, channels_of[community.id], volunteer, closed
                )
            elif isinstance(closed, send_gate.Suppress):
                job.fallback = closed
        jobs.append(job)
    return jobs


def _attempt(
    rt: Runtime,
    message: Message,
    community: Community,
    channels: Sequence[Channel],
    volunteer: Volunteer | None,
    decision: send_gate.Send,
) -> Attempt:
    channel = next(c for c in channels if c.id == message.channel_id)
    route = Route(channel, message.from_address, message.to_address)
    if decision.route is send_gate.Route.TEMPLATE:
        route = Route(channel, channel.twilio_address, message.to_address, decision.content_sid)
    elif decision.route is send_gate.Route.SMS_FALLBACK:
        sms = next(c for c in channels if c.kind == ChannelKind.SMS)
        phone = volunteer.phone if volunteer else message.to_address.removeprefix("whatsapp:")
        route = Route(sms, sms.twilio_address, phone)
    return Attempt(route, request_for(rt, message, community, route), decision.describe())


def request_for(rt: Runtime, message: Message, community: Community, route: Route) -> SendRequest:
    callback = None
    if rt.settings.public_base_url:
        callback = f"{rt.settings.public_base_url}/twilio/status?m={message.id}"
    service_sid = None
    if route.channel.kind == ChannelKind.SMS and community.messaging_service_sid:
        service_sid = community.messaging_service_sid
    variables = {"1": community.name, "2": message.body} if route.content_sid else {}
    return SendRequest(
        to=route.to_address,
        body=message.body,
        from_="" if service_sid else route.from_address,
        messaging_service_sid=service_sid,
        content_sid=route.content_sid,
        content_variables=variables,
        status_callback=callback,
    )


def _open_callouts(session: Session, callout_ids: set[int | None]) -> set[int]:
    if not callout_ids:
        return set()
    return set(
        session.scalars(
            select(CallOut.id).where(
                CallOut.id.in_(callout_ids), CallOut.status == CallOutStatus.OPEN
            )
        )
    )


def _asks_this_week(
    session: Session, messages: Sequence[Message], volunteer_ids: set[int], now: datetime
) -> dict[int, int]:
    if not any(m.kind in ASK_KINDS for m in messages):
        return {}
    rows = session.execute(
        select(Message.volunteer_id, func.count())
        .where(
            Message.volunteer_id.in_(volunteer_ids),
            Message.kind.in_(ASK_KINDS),
            Message.sent_at > now - send_gate.ASK_WINDOW,
        )
        .group_by(Message.volunteer_id)
    ).all()
    return {vid: int(n) for vid, n in rows if vid is not None}


def _send_all(rt: Runtime, jobs: list[Job]) -> list[Outcome]:
    """Send a batch in up to ``SEND_LANES`` concurrent lanes; one recipient's texts share a
    lane, so they keep their order. Leases are renewed while the batch runs."""
    lanes: dict[int, list[Job]] = defaultdict(list)
    for job in jobs:
        lanes[zlib.crc32(job.first.request.to.encode()) % max(1, SEND_LANES)].append(job)
    if len(lanes) <= 1:
        return _send_lane(rt, jobs, renew=[j.message_id for j in jobs])
    futures = [rt.send_pool.submit(_send_lane, rt, lane) for lane in lanes.values()]
    running = set(futures)
    while running:
        _, running = wait(running, timeout=RENEW_EVERY)
        if running:
            _renew_leases(rt, [j.message_id for j in jobs])
    return [outcome for future in futures for outcome in future.result()]


def _send_lane(rt: Runtime, jobs: list[Job], renew: list[int] | None = None) -> list[Outcome]:
    outcomes: list[Outcome] = []
    renewed = time.monotonic()
    for job in jobs:
        if renew and time.monotonic() - renewed > RENEW_EVERY:
            # every row of the batch, sent ones too: they are recorded only at the end
            _renew_leases(rt, renew)
            renewed = time.monotonic()
        outcomes.append(_send_one(rt, job))
    return outcomes


def _send_one(rt: Runtime, job: Job) -> Outcome:
    outcome = _try(rt, job.message_id, job.first)
    if outcome.error is None or outcome.error.code != WINDOW_CLOSED or job.fallback is None:
        return outcome
    if isinstance(job.fallback, send_gate.Suppress):
        return Outcome(
            job.message_id,
            "suppressed",
            job.fallback.describe(),
            error=outcome.error,
            window_closed=True,
        )
    retried = _try(rt, job.message_id, job.fallback)
    retried.window_closed = True
    return retried


def _try(rt: Runtime, message_id: int, attempt: Attempt) -> Outcome:
    sender = rt.senders.for_kind(attempt.route.channel.kind)
    try:
        result = sender.send(attempt.request)
    except AmbiguousSendError as exc:
        return Outcome(message_id, "ambiguous", "", attempt.route, error=exc)
    except TransientSendError as exc:
        return Outcome(message_id, "retry", "", attempt.route, error=exc)
    except PermanentSendError as exc:
        log.warning("send %s to %s failed: %s", message_id, mask(attempt.request.to), exc)
        return Outcome(message_id, "failed", "", attempt.route, error=exc)
    return Outcome(message_id, "sent", attempt.note, attempt.route, result=result)


def _renew_leases(rt: Runtime, message_ids: list[int]) -> None:
    with unit_of_work(rt.session_factory) as session:
        session.execute(
            update(Message)
            .where(Message.id.in_(message_ids), Message.status == MessageStatus.SENDING)
            .values(lease_until=clock.now() + LEASE)
            .execution_options(synchronize_session=False)
        )


def _record(session: Session, outcomes: list[Outcome], now: datetime, report: Report) -> None:
    take_sqlite_write_lock(session)
    rows = {
        m.id: m
        for m in session.scalars(
            select(Message)
            .where(Message.id.in_([o.message_id for o in outcomes]))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    affected = {rows[o.message_id].volunteer_id for o in outcomes if _touches_volunteer(o)}
    volunteers = {
        v.id: v
        for v in session.scalars(
            select(Volunteer)
            .where(Volunteer.id.in_({vid for vid in affected if vid is not None}))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    for outcome in outcomes:
        message = rows[outcome.message_id]
        if message.status != MessageStatus.SENDING and not _callback_got_here_first(
            message, outcome
        ):
            continue  # settled meanwhile (recovered after a lost lease): theirs stands
        volunteer = volunteers.get(message.volunteer_id) if message.volunteer_id else None
        if outcome.route is not None:
            message.channel_id = outcome.route.channel.id
            message.from_address = outcome.route.from_address
            message.to_address = outcome.route.to_address
            message.content_sid = outcome.route.content_sid
        if outcome.window_closed and volunteer is not None:
            volunteer.whatsapp_inbound_at = None  # the provider knows better than our clock
        if outcome.kind == "sent" and outcome.result is not None:
            _mark_sent(message, outcome.result, outcome.note, now)
            message.attempts += 1
            report.add(message.id, "sent", f"sent: {outcome.result.sid}")
        elif outcome.kind == "suppressed":
            if outcome.error is not None:
                message.error_code = outcome.error.code
                message.error_message = reason_for(outcome.error.code, str(outcome.error))
            _finish(message, MessageStatus.SUPPRESSED, outcome.note, report)
        elif outcome.kind == "failed" and outcome.error is not None:
            message.attempts += 1
            _fail(message, volunteer, outcome.error, now, report)
        elif outcome.kind == "ambiguous" and outcome.error is not None:
            message.attempts += 1
            _note_error(message, outcome.error)
            message.lease_until = now  # the recovery sweep asks the provider before resending
            message.decision = "send interrupted: checking with the provider before resending"
            report.add(message.id, "ambiguous", f"unknown: {outcome.error}")
        elif outcome.error is not None:
            message.attempts += 1
            _retry_or_give_up(message, outcome.error, now, report)


def _callback_got_here_first(message: Message, outcome: Outcome) -> bool:
    """A status callback for this very send moved the row on before the job recorded it."""
    return (
        outcome.result is not None
        and message.twilio_sid == outcome.result.sid
        and message.status != MessageStatus.PENDING
    )


def _touches_volunteer(outcome: Outcome) -> bool:
    return outcome.window_closed or (
        outcome.kind == "failed"
        and outcome.error is not None
        and (outcome.error.code == UNSUBSCRIBED or outcome.error.code in INVALID_NUMBER_CODES)
    )


def _mark_sent(message: Message, result: SendResult, note: str, now: datetime) -> None:
    new_status = provider_status(result.status) or MessageStatus.QUEUED
    if STATUS_RANK.get(message.status, -1) < STATUS_RANK.get(new_status, -1):
        message.status = new_status
    elif message.status == MessageStatus.SENDING:
        message.status = MessageStatus.QUEUED
    message.twilio_sid = result.sid
    message.sent_at = now
    message.lease_until = None
    message.decision = note[:255]


def _finish(message: Message, status: MessageStatus, note: str, report: Report) -> None:
    message.status = status
    message.decision = note[:255]
    message.lease_until = None
    report.add(message.id, status.value, note)


def _wait(message: Message, until: datetime, note: str) -> None:
    message.status = MessageStatus.PENDING
    message.not_before = until
    message.enqueued_at = None
    message.lease_until = None
    message.decision = note[:255]


def _note_error(message: Message, error: SendError) -> None:
    message.error_code = error.code
    message.error_message = reason_for(error.code, str(error))[:255]


def _fail(
    message: Message,
    volunteer: Volunteer | None,
    error: SendError,
    now: datetime,
    report: Report,
) -> None:
    _note_error(message, error)
    message.status = MessageStatus.FAILED
    message.lease_until = None
    message.decision = f"failed: {message.error_message}"[:255]
    if volunteer is not None and error.code == UNSUBSCRIBED:
        opt_out(volunteer, f"carrier:{UNSUBSCRIBED}", now)
    elif volunteer is not None and error.code in INVALID_NUMBER_CODES:
        mark_unreachable(volunteer, now)
    code = error.code if error.code is not None else "error"
    report.add(message.id, "failed", f"failed: {code}")


def _retry_or_give_up(message: Message, error: SendError, now: datetime, report: Report) -> None:
    _note_error(message, error)
    retry_at = now + timedelta(seconds=backoff(message.attempts))
    too_late = message.send_before is not None and retry_at >= message.send_before
    if message.attempts >= MAX_ATTEMPTS or too_late:
        message.status = MessageStatus.FAILED
        message.lease_until = None
        why = "too late to retry" if too_late else f"gave up after {message.attempts} attempts"
        message.decision = f"failed: {why}: {message.error_message}"[:255]
        report.add(message.id, "failed", message.decision)
        return
    note = (
        f"retrying at {retry_at:%H:%M:%S} UTC (attempt {message.attempts} of {MAX_ATTEMPTS} "
        f"failed: {message.error_message})"
    )
    _wait(message, retry_at, note)
    report.add(message.id, "retry", f"retry: {note}")


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures: exponential, jittered."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def _take_token(rt: Runtime, message_id: int) -> bool:
    with unit_of_work(rt.session_factory) as session:
        channel_id = session.scalar(select(Message.channel_id).where(Message.id == message_id))
        if channel_id is None:
            return True
        info = sender_info(session, {channel_id}).get(channel_id)
    return info is None or rt.buckets.take(info.key, info.rate, 1).granted == 1


def recover_interrupted(now: datetime | None = None) -> int:
    """Settle rows left ``sending`` by a worker that died: adopt what the provider accepted,
    send the rest again. Returns how many rows were settled."""
    rt = runtime()
    now = now or clock.now()
    settled = 0
    with unit_of_work(rt.session_factory) as session:
        take_sqlite_write_lock(session)
        stuck = session.scalars(
            select(Message)
            .where(Message.status == MessageStatus.SENDING, Message.lease_until < now)
            .order_by(Message.id)
            .limit(RECOVERY_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        for message in stuck:
            if _settle(rt, session, message, now):
                settled += 1
    return settled


def _settle(rt: Runtime, session: Session, message: Message, now: datetime) -> bool:
    channel = session.get(Channel, message.channel_id) if message.channel_id else None
    if channel is None:
        message.status = MessageStatus.FAILED
        message.decision = NO_CHANNEL
        return True
    community = session.get_one(Community, message.community_id)
    route = Route(channel, message.from_address, message.to_address, message.content_sid)
    request = request_for(rt, message, community, route)
    since = (message.claimed_at or message.created_at) - LOOKUP_SLACK
    try:
        found = rt.senders.for_kind(channel.kind).find_sent(request, since)
    except SendError as exc:  # the provider is unreachable too: ask again later
        log.warning("recovery of message %s postponed: %s", message.id, exc)
        message.lease_until = now + LEASE
        return False
    known = set(
        session.scalars(
            select(Message.twilio_sid).where(Message.twilio_sid.in_([f.sid for f in found]))
        )
    )
    match = next((f for f in found if f.sid not in known), None)
    if match is not None:
        _mark_sent(
            message, match, "sent (confirmed with the provider after an interrupted send)", now
        )
        log.info(
            "message %s: interrupted send had reached the provider as %s", message.id, match.sid
        )
        return True
    _wait(message, now, "sending again: an interrupted send never reached the provider")
    return True
