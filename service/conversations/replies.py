"""The immediate replies to an inbound text, stored as sent: they go back in the webhook's
TwiML answer, so no send job ever picks them up; or, for a text a worker answers later (a
deferred text), queued ``pending`` for the dispatcher and the send gate. Used by the
volunteer conversation (``inbound.py``) and the coordinators' commands
(``service.coordinators.commands``).
Imports ``flows.sms`` and service models only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from flows.sms import segment_info
from service.models import Channel, Direction, Message, MessageKind, MessageStatus, Priority


def store_replies(
    session: Session,
    channel: Channel,
    message: Message,
    texts: Sequence[str],
    now: datetime,
    *,
    volunteer_id: int | None = None,
    to_address: str | None = None,
    pending: bool = False,
) -> None:
    """One REPLIED row per text, keyed ``reply:<message id>:<n>`` so a retry of the same
    MessageSid finds them; ``to_address`` defaults to the sender of ``message``. ``pending``:
    queue them for the send gate instead (urgent, due now), for a worker's deferred text."""
    for index, text in enumerate(texts):
        info = segment_info(text)
        session.add(
            Message(
                community_id=channel.community_id,
                channel_id=channel.id,
                volunteer_id=volunteer_id,
                direction=Direction.OUTBOUND,
                kind=MessageKind.REPLY,
                idempotency_key=f"reply:{message.id}:{index}",
                from_address=channel.twilio_address,
                to_address=to_address if to_address is not None else message.from_address,
                body=text,
                status=MessageStatus.PENDING if pending else MessageStatus.REPLIED,
                segments=info.segments,
                encoding=info.encoding.value,
                reply_to_id=message.id,
                priority=Priority.URGENT,
                not_before=now,
                created_at=now,
                sent_at=None if pending else now,
            )
        )
