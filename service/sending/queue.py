"""Queue an outbound text: a message row in the caller's transaction (its own outbox entry).

The dispatcher hands the row to a send job once it is due, and the send gate re-checks
everything at send time (opt-out first). Queueing already records what is certain now: an
opted-out or erased recipient is suppressed at once, and a non-urgent text queued in quiet
hours is due when they end. Imports SQLAlchemy, ``flows``, ``service.models`` and
``service.sending`` (the gate, eligibility).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from flows.sms import segment_info
from service import clock
from service.models import (
    Channel,
    ChannelKind,
    Community,
    Direction,
    Message,
    MessageStatus,
    Priority,
    Volunteer,
)
from service.models.messages import PRIORITY_BY_KIND, MessageKind
from service.sending.eligibility import pick_channel, recipient_for
from service.sending.gate import DeferSend, Outbound, Rules, decide, rules_for, sender_for

NO_CHANNEL = "failed: community has no channel to send from"


def recipient_address(channel: Channel, phone: str) -> str:
    if channel.kind == ChannelKind.WHATSAPP:
        return f"whatsapp:{phone}"
    return phone


@dataclass(frozen=True)
class Plan:
    """How one recipient's row starts: its status, when it is due, and why."""

    status: MessageStatus
    not_before: datetime
    decision: str | None = None


def initial_plan(
    kind: MessageKind,
    volunteer: Volunteer,
    channel: Channel | None,
    community: Community,
    rules: Rules,
    now: datetime,
    *,
    available_at: datetime | None = None,
    send_before: datetime | None = None,
) -> Plan:
    due = max(now, available_at) if available_at else now
    if volunteer.status == VolunteerStatus.OPTED_OUT:
        return Plan(MessageStatus.SUPPRESSED, due, "suppressed: recipient opted out")
    if channel is None:
        return Plan(MessageStatus.FAILED, due, NO_CHANNEL)
    # What quiet hours say at the moment it becomes due (the gate decides again at send time).
    sender = sender_for(channel, community.messaging_service_sid)
    decision = decide(Outbound(kind, sender, send_before), recipient_for(volunteer), rules, due)
    if isinstance(decision, DeferSend):
        return Plan(MessageStatus.PENDING, decision.until, decision.describe())
    return Plan(MessageStatus.PENDING, due)


def queue_message(
    session: Session,
    *,
    volunteer: Volunteer,
    body: str,
    kind: MessageKind,
    idempotency_key: str,
    available_at: datetime | None = None,
    send_before: datetime | None = None,
) -> Message:
    """Record an outbound message for ``volunteer``; the dispatcher sends it when due.

    Idempotent by ``idempotency_key``: queueing the same key twice returns the first message.
    The dispatch priority follows from ``kind`` (``PRIORITY_BY_KIND``).
    """
    existing = session.scalar(select(Message).where(Message.idempotency_key == idempotency_key))
    if existing is not None:
        return existing
    community = session.get_one(Community, volunteer.community_id)
    channels = session.scalars(select(Channel).where(Channel.community_id == community.id)).all()
    channel = pick_channel(channels, volunteer.preferred_channel_id)
    plan = initial_plan(
        kind,
        volunteer,
        channel,
        community,
        rules_for(community, channels),
        clock.now(),
        available_at=available_at,
        send_before=send_before,
    )
    info = segment_info(body)
    message = Message(
        community_id=volunteer.community_id,
        channel_id=channel.id if channel else None,
        volunteer_id=volunteer.id,
        direction=Direction.OUTBOUND,
        kind=kind,
        idempotency_key=idempotency_key,
        from_address=channel.twilio_address if channel else "",
        to_address=recipient_address(channel, volunteer.phone) if channel else volunteer.phone,
        body=body,
        status=plan.status,
        decision=plan.decision,
        segments=info.segments,
        encoding=info.encoding.value,
        send_before=send_before,
        priority=PRIORITY_BY_KIND.get(kind, Priority.NORMAL),
        not_before=plan.not_before,
    )
    session.add(message)
    session.flush()
    return message


ANALYZE_AFTER = 1000  # rows


def queue_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert many message rows at once (a broadcast), in the caller's transaction: COPY on
    PostgreSQL (a multi-row INSERT of 10,000 rows costs psycopg seconds to parse), the
    driver's executemany elsewhere. Every row has the same keys."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(Message), rows)
        return
    columns = list(rows[0])
    raw: Any = connection.connection.dbapi_connection
    names = ", ".join(columns)
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY messages ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_plain(row[name]) for name in columns])
        if len(rows) >= ANALYZE_AFTER:
            # Fresh statistics, or the planner takes the thousands of new pending rows for a
            # handful and claims each batch by scanning them all instead of by primary key.
            cursor.execute("ANALYZE messages")


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value
