"""Send outbound messages through the send gate, in batches, exactly once.

``send_batch(ids)`` (the job the dispatcher enqueues) claims its rows atomically (pending ->
sending, under a lease), has ``service.sending.planning`` decide each one (the send gate, the
route, the pacing of a route the dispatcher did not charge), sends what may go over one pooled
connection, and records every outcome on the row: sent, deferred until T, waiting for its
sender's pace, suppressed and why, retried later with backoff, or failed with the provider's
reason. This module carries decisions out; it makes none about routes. A job run twice, or two
workers racing for the same rows, claim each row once.

``recover_interrupted`` handles rows whose lease ran out (their worker was killed mid-send):
it asks the provider whether the message was accepted after all and adopts it, or sends it
again, so a killed worker neither loses nor doubles a message.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from queue import Empty, SimpleQueue

from sqlalchemy import ColumnElement, Row, bindparam, select, update
from sqlalchemy.orm import Session

from service import clock
from service.conversations.effects import opt_out
from service.db import take_sqlite_write_lock, unit_of_work
from service.models import (
    MESSAGES,
    Channel,
    Community,
    Message,
    MessageKind,
    MessageStatus,
    Volunteer,
)
from service.models.messages import STATUS_RANK, provider_status
from service.sending import planning
from service.sending.delivery import (
    DEAD_NUMBER_CODES,
    UNSUBSCRIBED,
    WINDOW_CLOSED,
    mark_unreachable,
    reason_for,
)
from service.sending.dispatcher import BATCH_SIZE, due, senders_of
from service.sending.gate import Suppress, sender_for
from service.sending.planning import Attempt, PlannedSend, WireRoute
from service.sending.queue import NO_CHANNEL
from service.volunteers import privacy
from service.volunteers.phones import mask
from workers.runtime import MIN_SEND_LANES, SEND_THREADS, Runtime, runtime
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
LANE_HEADROOM = 2.0  # lanes beyond rate x latency: a batch is sent in half the time its
# tokens took to accrue, so the worker's own reads and writes fit in the rest
MAX_ATTEMPTS = 5
BACKOFF_BASE = 15.0  # seconds before the first retry; doubled each time, with jitter
BACKOFF_CAP = 15 * 60.0
INVALID_NUMBER_CODES = frozenset({21211, 21614})
RECOVERY_BATCH = 100
LOOKUP_SLACK = timedelta(minutes=1)  # clock skew between us and the provider


class DeliveryFailed(Exception):
    """Raised by ``send_batch`` after recording, so RQ files the job as failed."""


class SendOutcomeKind(StrEnum):
    SENT = "sent"
    SUPPRESSED = "suppressed"
    FAILED = "failed"
    RETRY = "retry"
    AMBIGUOUS = "ambiguous"  # the request may have reached the provider: ask before resending
    PACED = "paced"  # the 63016 fallback's sender had no token: the row waits on that route


@dataclass
class SendOutcome:
    message_id: int
    kind: SendOutcomeKind
    note: str
    route: WireRoute | None = None
    result: SendResult | None = None
    error: SendError | None = None
    window_closed: bool = False
    retry_after: float = 0.0  # PACED: seconds until the route's sender has a token


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)
    lines: dict[int, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    farewells: list[int] = field(default_factory=list)  # claimed FAREWELLs (see ``deliver``)

    def add(self, message_id: int, kind: str, line: str) -> None:
        self.counts[str(kind)] += 1
        self.lines[message_id] = line
        if kind == SendOutcomeKind.FAILED:
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
        sends = _plan(rt, session, claimed, now, report) if claimed else []
    if not claimed:
        report.counts["skipped"] += len(message_ids)
        return report
    outcomes = _send_all(rt, sends)
    if outcomes:
        with unit_of_work(rt.session_factory) as session:
            _record(session, outcomes, clock.now(), report)
    if report.farewells:  # their number was kept for the send only
        with unit_of_work(rt.session_factory) as session:
            privacy.forget_farewell_addresses(session, report.farewells)
    return report


def _claim(session: Session, message_ids: Sequence[int], now: datetime) -> list[int]:
    """pending -> sending for the due rows no one else has claimed; returns their ids.

    A row waiting for a retry or for quiet hours is not due: a late duplicate job leaves it.
    A job that claims fewer than ``BATCH_SIZE`` of its own also claims rows of the same
    priority handed to later jobs (their tokens were taken at the hand-over), oldest first,
    up to a full batch; those jobs then find nothing to claim. A job costs a Twilio round
    trip whatever its size, and jobs run one after another: the pump and a lane batch each
    handed over part of the same replies, and a surge's backlog went out in pairs of a full
    job and a small one (``bench.surge``, 2026-12-06)."""
    claimed = _mark_sending(session, now, Message.id.in_(list(message_ids)), due(now))
    ids = [row.id for row in claimed]
    room = BATCH_SIZE - len(ids)
    if claimed and room > 0:
        handed_over = (
            select(Message.id)
            .where(
                due(now),
                Message.enqueued_at.is_not(None),
                Message.priority == min(row.priority for row in claimed),
            )
            .order_by(Message.not_before, Message.id)
            .limit(room)
            .with_for_update(skip_locked=True)
        )
        ids += [row.id for row in _mark_sending(session, now, Message.id.in_(handed_over))]
    return sorted(ids)


def _mark_sending(
    session: Session, now: datetime, *where: ColumnElement[bool]
) -> Sequence[Row[int, int]]:
    """pending -> sending under a lease for the rows ``where`` picks: their ids and
    priorities."""
    return session.execute(
        update(Message)
        .where(*where)
        .values(status=MessageStatus.SENDING, claimed_at=now, lease_until=now + LEASE)
        .returning(Message.id, Message.priority)
        .execution_options(synchronize_session=False)
    ).all()


def _plan(
    rt: Runtime, session: Session, ids: list[int], now: datetime, report: Report
) -> list[PlannedSend]:
    """Record what planning decided for the claimed rows; return the sends to make."""
    decided = planning.plan(
        session,
        ids,
        now,
        buckets=rt.buckets if rt.buckets.enabled else None,
        public_base_url=rt.settings.public_base_url,
    )
    rows = decided.rows
    report.farewells = [m.id for m in rows.values() if m.kind == MessageKind.FAREWELL]
    for settle in decided.settled:
        _finish(rows[settle.message_id], settle.status, settle.note, report)
    for waiting in decided.waiting:
        message = rows[waiting.message_id]
        if waiting.route is not None:
            _show_route(message, waiting.route)
        _wait(message, waiting.until, waiting.note)
        report.add(message.id, "paced" if waiting.paced else "deferred", waiting.note)
    for send in decided.sends:  # the row shows the route it takes
        _show_route(rows[send.message_id], send.first.route)
    return decided.sends


def _show_route(message: Message, route: WireRoute) -> None:
    message.channel_id = route.sender.channel_id
    message.from_address = route.sender.address
    message.to_address = route.to_address
    message.content_sid = route.content_sid


def request_for(attempt: Attempt) -> SendRequest:
    """The provider request for a planned attempt."""
    sender = attempt.route.sender
    return SendRequest(
        to=attempt.route.to_address,
        body=attempt.body,
        from_="" if sender.messaging_service_sid else sender.address,
        messaging_service_sid=sender.messaging_service_sid,
        content_sid=attempt.route.content_sid,
        content_variables=dict(attempt.content_variables),
        status_callback=attempt.status_callback,
    )


def lanes_for(jobs: Sequence[PlannedSend], latency: float) -> int:
    """How many sends of this batch to keep in flight: for each sender, what its rate times
    Twilio's latency keeps busy (a short code at 100/s and 200 ms: 40 with the headroom), never
    more than its sends in the batch; at least ``MIN_SEND_LANES``, at most ``SEND_THREADS``.
    The rate itself is kept by the dispatcher's token buckets: lanes only make sure the
    worker is not what holds a sender below it."""
    per_sender = Counter(job.first.route.sender.bucket for job in jobs)
    wanted = sum(
        min(count, math.ceil(bucket.rate.per_second * latency * LANE_HEADROOM))
        for bucket, count in per_sender.items()
    )
    return max(MIN_SEND_LANES, min(SEND_THREADS, wanted))


def _send_all(rt: Runtime, jobs: list[PlannedSend]) -> list[SendOutcome]:
    """Send a batch with ``lanes_for`` sends in flight. Each recipient's texts go in order, by
    one lane; lanes take the next recipient as they finish, so a slow answer from Twilio holds
    one lane, not a fixed share of the batch. Recipients with the most texts go first
    (longest first): taken last, a recipient's two replies to a surge held the whole batch
    for two more round trips after the other lanes had finished. Leases are renewed while
    the batch runs."""
    count = lanes_for(jobs, rt.latency)
    by_recipient: dict[str, list[PlannedSend]] = defaultdict(list)
    for job in jobs:
        by_recipient[job.first.route.to_address].append(job)
    if count <= 1 or len(by_recipient) <= 1:
        return _send_lane(rt, jobs, renew=[j.message_id for j in jobs])
    waiting: SimpleQueue[list[PlannedSend]] = SimpleQueue()
    for group in sorted(by_recipient.values(), key=len, reverse=True):
        waiting.put(group)

    def lane() -> list[SendOutcome]:
        outcomes: list[SendOutcome] = []
        while True:
            try:
                group = waiting.get_nowait()
            except Empty:
                return outcomes
            outcomes.extend(_send_lane(rt, group))

    futures = [rt.send_pool.submit(lane) for _ in range(min(count, len(by_recipient)))]
    running = set(futures)
    while running:
        _, running = wait(running, timeout=RENEW_EVERY)
        if running:
            _renew_leases(rt, [j.message_id for j in jobs])
    by_id = {o.message_id: o for future in futures for o in future.result()}
    return [by_id[job.message_id] for job in jobs]


def _send_lane(
    rt: Runtime, jobs: list[PlannedSend], renew: list[int] | None = None
) -> list[SendOutcome]:
    outcomes: list[SendOutcome] = []
    renewed = time.monotonic()
    for job in jobs:
        if renew and time.monotonic() - renewed > RENEW_EVERY:
            # every row of the batch, sent ones too: they are recorded only at the end
            _renew_leases(rt, renew)
            renewed = time.monotonic()
        outcomes.append(_send_one(rt, job))
    return outcomes


def _send_one(rt: Runtime, job: PlannedSend) -> SendOutcome:
    outcome = _try(rt, job.message_id, job.first)
    fallback = job.if_window_closed
    if outcome.error is None or outcome.error.code != WINDOW_CLOSED or fallback is None:
        return outcome
    if isinstance(fallback, Suppress):
        return SendOutcome(
            job.message_id,
            SendOutcomeKind.SUPPRESSED,
            fallback.describe(),
            error=outcome.error,
            window_closed=True,
        )
    wait = planning.pace_fallback(rt.buckets, job.first, fallback)
    if wait is not None:
        return SendOutcome(
            job.message_id,
            SendOutcomeKind.PACED,
            f"WhatsApp refused free text (63016), {fallback.note.removeprefix('sent ')}",
            fallback.route,
            window_closed=True,
            retry_after=wait,
        )
    retried = _try(rt, job.message_id, fallback)
    retried.window_closed = True
    return retried


def _try(rt: Runtime, message_id: int, attempt: Attempt) -> SendOutcome:
    sender = rt.senders.for_kind(attempt.route.sender.kind)
    request = request_for(attempt)
    started = time.monotonic()
    try:
        result = sender.send(request)
    except AmbiguousSendError as exc:
        return SendOutcome(message_id, SendOutcomeKind.AMBIGUOUS, "", attempt.route, error=exc)
    except TransientSendError as exc:
        return SendOutcome(message_id, SendOutcomeKind.RETRY, "", attempt.route, error=exc)
    except PermanentSendError as exc:
        log.warning("send %s to %s failed: %s", message_id, mask(request.to), exc)
        return SendOutcome(message_id, SendOutcomeKind.FAILED, "", attempt.route, error=exc)
    rt.observe_latency(time.monotonic() - started)  # accepted sends only: errors can be quick
    return SendOutcome(message_id, SendOutcomeKind.SENT, attempt.note, attempt.route, result)


def _renew_leases(rt: Runtime, message_ids: list[int]) -> None:
    with unit_of_work(rt.session_factory) as session:
        session.execute(
            update(Message)
            .where(Message.id.in_(message_ids), Message.status == MessageStatus.SENDING)
            .values(lease_until=clock.now() + LEASE)
            .execution_options(synchronize_session=False)
        )


def _record(session: Session, outcomes: list[SendOutcome], now: datetime, report: Report) -> None:
    """Record a batch's outcomes on their rows, locked. Messages Twilio accepted whose rows are
    still ``sending`` (nearly every one) are written with one Core statement for the batch;
    the rest, whose outcome may touch the volunteer or meet a row settled meanwhile, one by
    one as ORM objects."""
    take_sqlite_write_lock(session)
    status_of = dict(
        session.execute(
            select(Message.id, Message.status)
            .where(Message.id.in_([o.message_id for o in outcomes]))
            .with_for_update()
        ).all()
    )
    accepted = [
        o
        for o in outcomes
        if o.kind is SendOutcomeKind.SENT
        and o.result is not None
        and o.route is not None
        and not o.window_closed
        and status_of.get(o.message_id) == MessageStatus.SENDING
    ]
    if accepted:
        _record_accepted(session, accepted, now, report)
    if len(accepted) < len(outcomes):
        plain = {o.message_id for o in accepted}
        _record_one_by_one(session, [o for o in outcomes if o.message_id not in plain], now, report)


_RECORD_ACCEPTED = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("message_id"))
    .values(
        status=bindparam("new_status"),
        twilio_sid=bindparam("sid"),
        sent_at=bindparam("now"),
        lease_until=None,
        decision=bindparam("note"),
        attempts=MESSAGES.c.attempts + 1,
        channel_id=bindparam("route_channel_id"),
        from_address=bindparam("route_from"),
        to_address=bindparam("route_to"),
        content_sid=bindparam("route_content_sid"),
    )
)


def _record_accepted(
    session: Session, outcomes: list[SendOutcome], now: datetime, report: Report
) -> None:
    """``sending`` rows Twilio accepted: what ``_show_route`` and ``_mark_sent`` would set on
    each, in one executemany UPDATE (no ORM object loaded or flushed)."""
    params: list[dict[str, object]] = []
    for outcome in outcomes:
        route, result = outcome.route, outcome.result
        if route is None or result is None:  # _record passes only accepted sends with a route
            raise ValueError(f"message {outcome.message_id}: no route or result to record")
        params.append(
            {
                "message_id": outcome.message_id,
                "new_status": status_after_send(MessageStatus.SENDING, result),
                "sid": result.sid,
                "now": now,
                "note": outcome.note[:255],
                "route_channel_id": route.sender.channel_id,
                "route_from": route.sender.address,
                "route_to": route.to_address,
                "route_content_sid": route.content_sid,
            }
        )
        report.add(outcome.message_id, SendOutcomeKind.SENT, f"sent: {result.sid}")
    session.connection().execute(_RECORD_ACCEPTED, params)


def _record_one_by_one(
    session: Session, outcomes: list[SendOutcome], now: datetime, report: Report
) -> None:
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
            _show_route(message, outcome.route)
        if outcome.window_closed and volunteer is not None:
            volunteer.whatsapp_inbound_at = None  # the provider knows better than our clock
        if outcome.kind is SendOutcomeKind.PACED and outcome.route is not None:
            until = now + timedelta(seconds=outcome.retry_after)
            note = planning.paced_note(outcome.route, until, outcome.note)
            _wait(message, until, note)
            report.add(message.id, SendOutcomeKind.PACED, note)
        elif outcome.kind is SendOutcomeKind.SENT and outcome.result is not None:
            _mark_sent(message, outcome.result, outcome.note, now)
            message.attempts += 1
            report.add(message.id, SendOutcomeKind.SENT, f"sent: {outcome.result.sid}")
        elif outcome.kind is SendOutcomeKind.SUPPRESSED:
            if outcome.error is not None:
                message.error_code = outcome.error.code
                message.error_message = reason_for(outcome.error.code, str(outcome.error))
            _finish(message, MessageStatus.SUPPRESSED, outcome.note, report)
        elif outcome.kind is SendOutcomeKind.FAILED and outcome.error is not None:
            message.attempts += 1
            _fail(message, volunteer, outcome.error, now, report)
        elif outcome.kind is SendOutcomeKind.AMBIGUOUS and outcome.error is not None:
            message.attempts += 1
            _note_error(message, outcome.error)
            message.lease_until = now  # the recovery sweep asks the provider before resending
            message.decision = "send interrupted: checking with the provider before resending"
            report.add(message.id, SendOutcomeKind.AMBIGUOUS, f"unknown: {outcome.error}")
        elif outcome.error is not None:
            message.attempts += 1
            _retry_or_give_up(message, outcome.error, now, report)


def _callback_got_here_first(message: Message, outcome: SendOutcome) -> bool:
    """A status callback for this very send moved the row on before the job recorded it."""
    return (
        outcome.result is not None
        and message.twilio_sid == outcome.result.sid
        and message.status != MessageStatus.PENDING
    )


def _touches_volunteer(outcome: SendOutcome) -> bool:
    return outcome.window_closed or (
        outcome.kind is SendOutcomeKind.FAILED
        and outcome.error is not None
        and (outcome.error.code == UNSUBSCRIBED or outcome.error.code in INVALID_NUMBER_CODES)
    )


def status_after_send(current: MessageStatus, result: SendResult) -> MessageStatus:
    """A row's status once Twilio accepted its message: Twilio's answer when it is further on
    than the row, else the row's own (``sending`` becomes ``queued``)."""
    new_status = provider_status(result.status) or MessageStatus.QUEUED
    if STATUS_RANK.get(current, -1) < STATUS_RANK.get(new_status, -1):
        return new_status
    return MessageStatus.QUEUED if current == MessageStatus.SENDING else current


def _mark_sent(message: Message, result: SendResult, note: str, now: datetime) -> None:
    message.status = status_after_send(message.status, result)
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
    elif volunteer is not None and error.code in INVALID_NUMBER_CODES | DEAD_NUMBER_CODES:
        mark_unreachable(volunteer, now, error.code)
    code = error.code if error.code is not None else "error"
    report.add(message.id, SendOutcomeKind.FAILED, f"failed: {code}")


def _retry_or_give_up(message: Message, error: SendError, now: datetime, report: Report) -> None:
    _note_error(message, error)
    retry_at = now + timedelta(seconds=backoff(message.attempts))
    too_late = message.send_before is not None and retry_at >= message.send_before
    if message.attempts >= MAX_ATTEMPTS or too_late:
        message.status = MessageStatus.FAILED
        message.lease_until = None
        why = "too late to retry" if too_late else f"gave up after {message.attempts} attempts"
        message.decision = f"failed: {why}: {message.error_message}"[:255]
        report.add(message.id, SendOutcomeKind.FAILED, message.decision)
        return
    note = (
        f"retrying at {retry_at:%H:%M:%S} UTC (attempt {message.attempts} of {MAX_ATTEMPTS} "
        f"failed: {message.error_message})"
    )
    _wait(message, retry_at, note)
    report.add(message.id, SendOutcomeKind.RETRY, f"retry: {note}")


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures: exponential, jittered."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def _take_token(rt: Runtime, message_id: int) -> bool:
    with unit_of_work(rt.session_factory) as session:
        channel_id = session.scalar(select(Message.channel_id).where(Message.id == message_id))
        if channel_id is None:
            return True
        sender = senders_of(session, {channel_id}).get(channel_id)
    return sender is None or rt.buckets.take_from(sender.bucket, 1).granted == 1


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
        farewells = [m.id for m in stuck if m.kind == MessageKind.FAREWELL]
        if farewells:  # those settled now lose their number (the update flushes them first)
            privacy.forget_farewell_addresses(session, farewells)
    return settled


def _settle(rt: Runtime, session: Session, message: Message, now: datetime) -> bool:
    channel = session.get(Channel, message.channel_id) if message.channel_id else None
    if channel is None:
        message.status = MessageStatus.FAILED
        message.decision = NO_CHANNEL
        return True
    community = session.get_one(Community, message.community_id)
    sender = sender_for(channel, community.messaging_service_sid)
    request = request_for(
        planning.attempt_on_row(message, community, sender, rt.settings.public_base_url)
    )
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
