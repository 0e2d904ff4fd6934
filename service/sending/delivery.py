"""Delivery status from Twilio: move a message forward (never backwards), record errors in
words a coordinator can read, and do what each error code means (``CODES``, one table, also
in docs/sending.md): resend what a carrier hiccup lost (30003/30008, twice at most, and never
once the text was delivered after all), resend WhatsApp texts refused outside the 24-hour
window (63016) through the send gate again, stop texting a number the carrier does not know or
that is a landline (30005/30006) after the first such error, count carrier filtering (30007)
against the sender, never the volunteer, and pause bulk sends from a sender it keeps hitting,
and turn carrier opt-outs (21610) into our own record."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from service.conversations.effects import opt_out
from service.db import set_changed, take_sqlite_write_lock
from service.models import Channel, Community, Direction, Message, MessageStatus, Volunteer
from service.models.messages import STATUS_RANK, provider_status

log = logging.getLogger(__name__)

UNSUBSCRIBED = 21610  # recipient replied STOP to this sender at the carrier/Twilio level
WINDOW_CLOSED = 63016
FILTERED = 30007
RESEND_CODES = frozenset({30003, 30008})  # unreachable for now / unknown carrier error
DEAD_NUMBER_CODES = frozenset({30005, 30006})  # unknown number, landline: stop at the first
MAX_RESENDS = 2
RESEND_DELAY = timedelta(minutes=10)
UNREACHABLE_AFTER = 3  # consecutive undelivered texts before a number is flagged
# Carrier filtering (30007) per sender: this many within FILTERED_WINDOW pause its bulk sends
# (broadcasts) for ``service.sending.gate.BULK_PAUSE``.
FILTERED_PAUSE_AFTER = 5
FILTERED_WINDOW = timedelta(hours=24)
DELIVERED = (MessageStatus.DELIVERED, MessageStatus.READ)


@dataclass(frozen=True)
class Code:
    """A Twilio error code HandsUp knows: what it means, and what HandsUp does about it."""

    reason: str
    action: str


# Every code HandsUp treats specially, and the words a coordinator reads for it. docs/sending.md
# has the same table (tests/test_docs.py keeps the two the same).
CODES: dict[int, Code] = {
    20429: Code("too many requests to Twilio (rate limited)", "retried with backoff"),
    21211: Code(
        "the number is not a valid phone number", "not retried; the number is marked unreachable"
    ),
    21408: Code("sending to this country is not enabled on the Twilio account", "not retried"),
    21610: Code(
        "the recipient replied STOP to this number (unsubscribed)",
        "not retried; the volunteer is opted out in HandsUp too",
    ),
    21614: Code(
        "the number is not a mobile number", "not retried; the number is marked unreachable"
    ),
    30001: Code("Twilio's queue for this sender overflowed", "retried with backoff"),
    30002: Code("the Twilio account is suspended", "not retried"),
    30003: Code(
        "the phone is unreachable (switched off or out of coverage)",
        "sent again after 10 minutes, twice at most; a later 'delivered' cancels the resend",
    ),
    30004: Code("the message was blocked by the recipient or their carrier", "not retried"),
    30005: Code(
        "the number is unknown to the carrier (may no longer be in service)",
        "not retried; nothing more is sent to the number after this first error, and the "
        "dashboard lists it as unreachable",
    ),
    30006: Code(
        "the number is a landline or its carrier cannot receive texts",
        "as 30005",
    ),
    30007: Code(
        "the carrier filtered the message (spam filter)",
        "not retried and never counted against the volunteer; counted per community and "
        f"sender on the dashboard, and after {FILTERED_PAUSE_AFTER} in 24 hours that sender's "
        "broadcasts pause for 24 hours",
    ),
    30008: Code("the carrier reported an unknown error", "as 30003"),
    63016: Code(
        "outside the WhatsApp 24-hour window: a template is needed",
        "sent again through the send gate: an approved template, else SMS, else not at all",
    ),
}
ERROR_REASONS: dict[int, str] = {code: known.reason for code, known in CODES.items()}


def reason_for(code: int | None, fallback: str = "") -> str:
    """The human-readable reason for a Twilio error code (the provider's text otherwise)."""
    if code is not None and code in ERROR_REASONS:
        return f"{ERROR_REASONS[code]} ({code})"
    return fallback or (f"error {code}" if code is not None else "unknown error")


def mark_unreachable(volunteer: Volunteer, now: datetime, code: int | None = None) -> None:
    """Flag the number; with a dead-number code (30005/30006), nothing more is sent to it."""
    if volunteer.unreachable_at is None:
        volunteer.unreachable_at = now
    if code in DEAD_NUMBER_CODES:
        volunteer.unreachable_code = code


def mark_reachable(volunteer: Volunteer) -> None:
    """A delivered text, or a text from them: the number works."""
    set_changed(volunteer, undelivered_streak=0, unreachable_at=None, unreachable_code=None)


def record_status(
    session: Session,
    sid: str,
    status: str,
    error_code: int | None,
    now: datetime,
    message_id: int | None = None,
) -> bool:
    """Apply a status callback; returns False when the SID is unknown (a message retention
    or a community's deletion removed, or never ours): ignored. Commits.

    ``message_id`` comes from our own callback URL: a callback can outrun the send job's
    record of the SID, and then the row is found by id.
    """
    take_sqlite_write_lock(session)
    message = _locked_message(session, sid, message_id)
    if message is None:
        log.info("status callback for unknown message %s (%s)", sid, status)
        session.rollback()
        return False
    if message.twilio_sid is None:
        message.twilio_sid = sid
    new_status = provider_status(status)
    moved = new_status is not None and _moves(message.status, new_status)
    if moved and new_status is not None:
        message.status = new_status
    if error_code is not None and new_status not in DELIVERED:
        message.error_code = error_code
        message.error_message = reason_for(error_code)[:255]
    if moved and new_status in DELIVERED:
        _cancel_resends(session, message)
    if moved and error_code == FILTERED:
        _count_filtered(session, message, now)
    volunteer = None
    if message.volunteer_id is not None:
        volunteer = session.get(
            Volunteer, message.volunteer_id, with_for_update=True, populate_existing=True
        )
    if volunteer is not None and moved:
        _track_reachability(session, message, volunteer, new_status, error_code, now)
    session.commit()
    return True


def _moves(current: MessageStatus, new: MessageStatus) -> bool:
    """Forward only; but a text reported undelivered (or failed) and then delivered reached
    the phone after all (a carrier's late receipt): delivered is the last word."""
    if new in DELIVERED and current in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
        return True
    return STATUS_RANK.get(new, -1) > STATUS_RANK.get(current, -1)


def _cancel_resends(session: Session, message: Message) -> None:
    """The text arrived: a resend still waiting (after a 30003) would send it twice."""
    original = message.retry_of_id or message.id
    session.execute(
        update(Message)
        .where(
            or_(Message.retry_of_id == original, Message.id == original),
            Message.id != message.id,
            Message.status == MessageStatus.PENDING,
        )
        .values(status=MessageStatus.SUPPRESSED, decision="not resent: delivered after all")
        .execution_options(synchronize_session=False)
    )


def _count_filtered(session: Session, message: Message, now: datetime) -> None:
    """30007 is about the sender or the content: count it on the sender's channel."""
    if message.channel_id is None:
        return
    channel = session.get(Channel, message.channel_id, with_for_update=True)
    if channel is None:
        return
    if channel.filtered_at is None or now - channel.filtered_at > FILTERED_WINDOW:
        channel.filtered_count = 0  # a new window
    channel.filtered_count += 1
    channel.filtered_at = now
    if channel.filtered_count >= FILTERED_PAUSE_AFTER:
        if channel.bulk_paused_at is None:
            log.warning("carrier filtering: bulk sends from channel %s paused", channel.id)
        channel.bulk_paused_at = now


def _locked_message(session: Session, sid: str, message_id: int | None) -> Message | None:
    query = select(Message).with_for_update().execution_options(populate_existing=True)
    message = session.scalars(query.where(Message.twilio_sid == sid)).one_or_none()
    if message is None and message_id is not None:
        message = session.scalars(
            query.where(Message.id == message_id, Message.twilio_sid.is_(None))
        ).one_or_none()
    return message


def _track_reachability(
    session: Session,
    message: Message,
    volunteer: Volunteer,
    status: MessageStatus | None,
    error_code: int | None,
    now: datetime,
) -> None:
    if status in DELIVERED:
        mark_reachable(volunteer)
        return
    if status not in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
        return
    if error_code == UNSUBSCRIBED:
        opt_out(volunteer, f"carrier:{UNSUBSCRIBED}", now)
        return
    if error_code == FILTERED:
        return  # the sender's or the content's problem, never the volunteer's
    if error_code in DEAD_NUMBER_CODES:
        mark_unreachable(volunteer, now, error_code)  # at the first one
        return
    volunteer.undelivered_streak += 1
    if volunteer.undelivered_streak >= UNREACHABLE_AFTER:
        mark_unreachable(volunteer, now)
    if not message.body:
        return  # retention cleared the text: nothing left to send again
    if error_code == WINDOW_CLOSED and message.content_sid is None:
        volunteer.whatsapp_inbound_at = None  # the gate now picks a template, SMS, or nothing
        _resend(session, message, now, now)
    elif error_code in RESEND_CODES and _resends_so_far(session, message) < MAX_RESENDS:
        _resend(session, message, now, now + RESEND_DELAY)


def _resends_so_far(session: Session, message: Message) -> int:
    original = message.retry_of_id or message.id
    return int(session.scalar(select(func.count()).where(Message.retry_of_id == original)) or 0)


def _resend(session: Session, message: Message, now: datetime, due: datetime) -> None:
    """A new row for the same text, judged by the send gate again when it is due."""
    if message.send_before is not None and due >= message.send_before:
        return  # too late to be of use
    original = message.retry_of_id or message.id
    number = _resends_so_far(session, message) + 1
    session.add(
        Message(
            community_id=message.community_id,
            channel_id=message.channel_id,
            volunteer_id=message.volunteer_id,
            direction=message.direction,
            kind=message.kind,
            idempotency_key=f"resend:{original}:{number}",
            from_address=message.from_address,
            to_address=message.to_address,
            body=message.body,
            status=MessageStatus.PENDING,
            segments=message.segments,
            encoding=message.encoding,
            callout_id=message.callout_id,
            send_before=message.send_before,
            priority=message.priority,
            not_before=due,
            broadcast_id=message.broadcast_id,
            retry_of_id=original,
            decision=f"resend {number} of message {original} ({reason_for(message.error_code)})"[
                :255
            ],
            created_at=now,
        )
    )


def message_log(
    session: Session,
    community: Community,
    *,
    status: str | None = None,
    direction: str | None = Direction.OUTBOUND,
    kind: str | None = None,
    before: Message | None = None,
    limit: int = 50,
) -> list[Message]:
    """Messages of ``community``, newest first: outbound by default (``direction=None``: both),
    optionally of one status and kind.

    Paged by keyset: ``before`` is the last message of the previous page, so a page costs the
    same however deep it is (``ix_messages_community_created`` serves the order).
    """
    query = message_log_query(
        community.id, status=status, direction=direction, kind=kind, before=before
    )
    return list(session.scalars(query.limit(limit)))


def message_log_query(
    community_id: int,
    *,
    status: str | None = None,
    direction: str | None = None,
    kind: str | None = None,
    before: Message | None = None,
) -> Select[Message]:
    query = select(Message).where(Message.community_id == community_id)
    if direction:
        query = query.where(Message.direction == Direction(direction))
    if status:
        query = query.where(Message.status == MessageStatus(status))
    if kind:
        query = query.where(Message.kind == kind)
    if before is not None:
        query = query.where(
            or_(
                Message.created_at < before.created_at,
                and_(Message.created_at == before.created_at, Message.id < before.id),
            )
        )
    return query.order_by(Message.created_at.desc(), Message.id.desc())
