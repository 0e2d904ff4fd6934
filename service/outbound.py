"""Queue an outbound text: a message row plus an outbox row, in the caller's transaction.

The worker's send job re-checks everything at send time (opt-out first); queueing here also
refuses opted-out volunteers at once, recording the message as suppressed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from flows.sms import segment_info
from service import outbox
from service.models import Channel, ChannelKind, Direction, Message, MessageStatus, Volunteer

SEND_JOB = "workers.dispatch.send_message"


def channel_for(session: Session, volunteer: Volunteer) -> Channel | None:
    """The channel a volunteer last used, else the community's SMS (or simulator) channel."""
    if volunteer.preferred_channel_id is not None:
        channel = session.get(Channel, volunteer.preferred_channel_id)
        if channel is not None:
            return channel
    channels = session.scalars(
        select(Channel).where(Channel.community_id == volunteer.community_id)
    ).all()
    for kind in (ChannelKind.SMS, ChannelKind.WHATSAPP, ChannelKind.SIMULATOR):
        for channel in channels:
            if channel.kind == kind:
                return channel
    return None


def recipient_address(channel: Channel, volunteer: Volunteer) -> str:
    if channel.kind == ChannelKind.WHATSAPP:
        return f"whatsapp:{volunteer.phone}"
    return volunteer.phone


def queue_message(
    session: Session,
    *,
    volunteer: Volunteer,
    body: str,
    kind: str,
    idempotency_key: str,
    queue: str = "default",
    available_at: datetime | None = None,
    send_before: datetime | None = None,
) -> Message:
    """Record an outbound message for ``volunteer`` and schedule its sending.

    Idempotent by ``idempotency_key``: queueing the same key twice returns the first message.
    """
    existing = session.scalar(select(Message).where(Message.idempotency_key == idempotency_key))
    if existing is not None:
        return existing
    channel = channel_for(session, volunteer)
    info = segment_info(body)
    message = Message(
        community_id=volunteer.community_id,
        channel_id=channel.id if channel else None,
        volunteer_id=volunteer.id,
        direction=Direction.OUTBOUND,
        kind=kind,
        idempotency_key=idempotency_key,
        from_address=channel.twilio_address if channel else "",
        to_address=recipient_address(channel, volunteer) if channel else volunteer.phone,
        body=body,
        status=MessageStatus.PENDING,
        segments=info.segments,
        encoding=info.encoding.value,
        send_before=send_before,
    )
    if volunteer.status == VolunteerStatus.OPTED_OUT:
        message.status = MessageStatus.SUPPRESSED
        message.error_message = "recipient opted out"
    elif channel is None:
        message.status = MessageStatus.FAILED
        message.error_message = "community has no channel to send from"
    session.add(message)
    session.flush()
    if message.status != MessageStatus.PENDING:
        return message
    outbox.add(
        session,
        job=SEND_JOB,
        payload={"message_id": message.id},
        dedupe_key=f"send:{idempotency_key}",
        queue=queue,
        available_at=available_at,
    )
    return message
