"""Delivery status from Twilio: move a message forward (never backwards), record errors in
words a coordinator can read, resend what a carrier hiccup lost (30003/30008, twice at most),
resend WhatsApp texts refused outside the 24-hour window (63016) through the send gate again,
track numbers that keep failing, and turn carrier opt-outs (21610) into our own record."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from service.conversations.effects import opt_out
from service.db import take_sqlite_write_lock
from service.models import Community, Direction, Message, MessageStatus, Volunteer
from service.models.messages import STATUS_RANK, provider_status

log = logging.getLogger(__name__)

UNSUBSCRIBED = 21610  # recipient replied STOP to this sender at the carrier/Twilio level
WINDOW_CLOSED = 63016
RESEND_CODES = frozenset({30003, 30008})  # unreachable for now / unknown carrier error
MAX_RESENDS = 2
RESEND_DELAY = timedelta(minutes=10)
UNREACHABLE_AFTER = 3  # consecutive undelivered texts before a number is flagged

ERROR_REASONS: dict[int, str] = {
    20429: "too many requests to Twilio (rate limited)",
    21211: "the number is not a valid phone number",
    21408: "sending to this country is not enabled on the Twilio account",
    21610: "the recipient replied STOP to this number (unsubscribed)",
    21614: "the number is not a mobile number",
    30001: "Twilio's queue for this sender overflowed",
    30002: "the Twilio account is suspended",
    30003: "the phone is unreachable (switched off or out of coverage)",
    30004: "the message was blocked by the recipient or their carrier",
    30005: "the number is unknown to the carrier (may no longer be in service)",
    30006: "the number is a landline or its carrier cannot receive texts",
    30007: "the carrier filtered the message (spam filter)",
    30008: "the carrier reported an unknown error",
    63016: "outside the WhatsApp 24-hour window: a template is needed",
}


def reason_for(code: int | None, fallback: str = "") -> str:
    """The human-readable reason for a Twilio error code (the provider's text otherwise)."""
    if code is not None and code in ERROR_REASONS:
        return f"{ERROR_REASONS[code]} ({code})"
    return fallback or (f"error {code}" if code is not None else "unknown error")


def mark_unreachable(volunteer: Volunteer, now: datetime) -> None:
    if volunteer.unreachable_at is None:
        volunteer.unreachable_at = now


def mark_reachable(volunteer: Volunteer) -> None:
    """A delivered text, or a text from them: the number works."""
    volunteer.undelivered_streak = 0
    volunteer.unreachable_at = None


def record_status(
    session: Session,
    sid: str,
    status: str,
    error_code: int | None,
    now: datetime,
    message_id: int | None = None,
) -> bool:
    """Apply a status callback; returns False when the SID is unknown. Commits.

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
    moved = new_status is not None and STATUS_RANK.get(status, -1) > STATUS_RANK.get(
        message.status, -1
    )
    if moved and new_status is not None:
        message.status = new_status
    if error_code is not None:
        message.error_code = error_code
        message.error_message = reason_for(error_code)[:255]
    volunteer = None
    if message.volunteer_id is not None:
        volunteer = session.get(
            Volunteer, message.volunteer_id, with_for_update=True, populate_existing=True
        )
    if volunteer is not None and moved:
        _track_reachability(session, message, volunteer, new_status, error_code, now)
    session.commit()
    return True


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
    if status in (MessageStatus.DELIVERED, MessageStatus.READ):
        mark_reachable(volunteer)
        return
    if status not in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
        return
    if error_code == UNSUBSCRIBED:
        opt_out(volunteer, f"carrier:{UNSUBSCRIBED}", now)
        return
    volunteer.undelivered_streak += 1
    if volunteer.undelivered_streak >= UNREACHABLE_AFTER:
        mark_unreachable(volunteer, now)
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
