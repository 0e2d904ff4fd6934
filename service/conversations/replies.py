"""The immediate replies to an inbound text, stored as sent: they go back in the webhook's
TwiML answer, so no send job ever picks them up; or, for a text a worker answers later (a
deferred text), queued ``pending`` for the dispatcher and the send gate. Used by the
volunteer conversation (``inbound.py``) and the coordinators' commands
(``service.coordinators.commands``).
Imports ``flows.sms``, service models and ``service.sending.outbox`` (its note of due work).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from flows.sms import segment_info
from service.models import (
    MESSAGES,
    Channel,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Priority,
)
from service.sending.outbox import note_due_work


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
    kind: MessageKind = MessageKind.REPLY,
) -> None:
    """One REPLIED row per text, keyed ``reply:<message id>:<n>`` so a retry of the same
    MessageSid finds them; ``to_address`` defaults to the sender of ``message``. ``pending``:
    queue them for the send gate instead (urgent, due now), for a worker's deferred text;
    ``kind`` ``FAREWELL`` for those that confirm the erasure of their recipient.

    The rows go in one Core ``INSERT`` (executemany) at once, not as ORM objects flushed at
    the commit: nothing reads them back in this transaction, and the unit of work's
    bookkeeping was a measurable share of a step's CPU (issue 18). They need only rows that
    exist (the message, the volunteer, the channel), so the step's pending changes are not
    flushed ahead of them. PENDING rows are due at once: the session notes it for the outbox
    (``service.sending.outbox.note_due_work``), as its flush does for ORM objects."""
    rows = [
        {
            "community_id": channel.community_id,
            "channel_id": channel.id,
            "volunteer_id": volunteer_id,
            "direction": Direction.OUTBOUND,
            "kind": kind,
            "idempotency_key": f"reply:{message.id}:{index}",
            "from_address": channel.twilio_address,
            "to_address": to_address if to_address is not None else message.from_address,
            "body": text,
            "status": MessageStatus.PENDING if pending else MessageStatus.REPLIED,
            "segments": info.segments,
            "encoding": info.encoding.value,
            "reply_to_id": message.id,
            "priority": Priority.URGENT,
            "not_before": now,
            "created_at": now,
            "sent_at": None if pending else now,
        }
        for index, text in enumerate(texts)
        for info in (segment_info(text),)
    ]
    if not rows:
        return
    if pending:
        note_due_work(session)
    with session.no_autoflush:  # the step's own changes go in the one flush at the commit
        session.execute(insert(MESSAGES), rows)
