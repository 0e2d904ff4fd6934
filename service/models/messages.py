"""The message log (every inbound and outbound text), broadcasts and the transactional outbox.

An outbound ``Message`` row is itself the outbox entry for its send: it is committed with the
state change that caused it, and the dispatcher hands due rows to the send jobs.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, str_enum, utcnow


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Priority(IntEnum):
    """Dispatch order: texts to someone in a conversation first, then reminders, then bulk."""

    URGENT = 0
    NORMAL = 1
    BULK = 2


class MessageKind(StrEnum):
    """What a message is. ``reply`` goes out in the TwiML answer (a deferred text's replies go
    through the send gate, urgent, never held); every other outbound kind
    through the send gate (``service.sending.eligibility`` says which kinds are asks, which
    wait out quiet hours and which a break holds)."""

    INBOUND = "inbound"  # a text from a volunteer
    REPLY = "reply"  # the answer to it: in the TwiML, or through the gate when deferred
    DIRECT = "direct"  # a coordinator's reply from the console
    NOTICE = "notice"  # the result of something the volunteer did (promotion, ...)
    CALLOUT = "callout"  # an urgent call-out ask
    REMINDER = "reminder"
    ASK = "ask"  # donation gap asks and standing-pledge checks
    BROADCAST = "broadcast"
    # A one-time code texted to a coordinator's registered phone (verification, CALLOUT/SAY
    # confirmation): urgent, never held for quiet hours, never an ask.
    CODE = "code"
    # The answer to a deferred text that erased its sender (FORGET, then YES, under surge): it
    # goes to the number the step erased, whatever the gate would say of an erased volunteer,
    # and loses that address once sent (``workers.dispatch``), as the TwiML answer keeps none.
    FAREWELL = "farewell"


# Dispatch order of the kinds that go through the send gate.
PRIORITY_BY_KIND: dict[MessageKind, Priority] = {
    MessageKind.REPLY: Priority.URGENT,  # the reply to a deferred text (a worker answers it)
    MessageKind.DIRECT: Priority.URGENT,
    MessageKind.NOTICE: Priority.URGENT,
    MessageKind.CALLOUT: Priority.URGENT,
    MessageKind.CODE: Priority.URGENT,
    MessageKind.FAREWELL: Priority.URGENT,
    MessageKind.REMINDER: Priority.NORMAL,
    MessageKind.ASK: Priority.NORMAL,
    MessageKind.BROADCAST: Priority.BULK,
}


class MessageStatus(StrEnum):
    # inbound
    RECEIVED = "received"  # stored, flow not yet run
    PROCESSED = "processed"  # flow ran, replies recorded
    # outbound
    PENDING = "pending"  # in the outbox, not yet handed to a provider
    SENDING = "sending"
    REPLIED = "replied"  # sent as the TwiML answer to an inbound webhook
    QUEUED = "queued"  # provider statuses from here on
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    READ = "read"
    CANCELED = "canceled"  # a scheduled send canceled at Twilio before it went
    SUPPRESSED = "suppressed"  # deliberately not sent (opted out, ...)


def provider_status(value: str) -> MessageStatus | None:
    """The MessageStatus for a provider's status string, or None when we do not track it."""
    try:
        return MessageStatus(value)
    except ValueError:
        return None


# Provider status order: a status callback never moves a message backwards.
STATUS_RANK: dict[str, int] = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENDING: 1,
    "accepted": 2,
    "scheduled": 2,
    MessageStatus.QUEUED: 2,
    MessageStatus.SENT: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.UNDELIVERED: 4,
    MessageStatus.FAILED: 4,
    MessageStatus.CANCELED: 4,
    MessageStatus.READ: 5,
}


WAITING = text(f"status = '{MessageStatus.RECEIVED.value}'")  # stored, not yet answered
# A FAREWELL (the worker's answer to the text that erased its recipient) not yet with Twilio:
# it keeps the erased number until then, and a later text of that number waits behind it.
FAREWELL_UNSENT = text(
    f"kind = '{MessageKind.FAREWELL.value}' AND status IN "
    f"('{MessageStatus.PENDING.value}', '{MessageStatus.SENDING.value}')"
)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_volunteer_created", "volunteer_id", "created_at"),
        Index("ix_messages_reply_to", "reply_to_id"),
        Index("ix_messages_dispatch", "status", "not_before"),
        # Texts waiting to be answered (deferred under surge), and only those: an earlier text
        # of one sender still waiting, and the oldest waiting, cost no more as the backlog grows.
        Index(
            "ix_messages_waiting",
            "community_id",
            "from_address",
            "id",
            postgresql_where=WAITING,
            sqlite_where=WAITING,
        ),
        Index("ix_messages_received", "id", postgresql_where=WAITING, sqlite_where=WAITING),
        Index(
            "ix_messages_farewell_unsent",
            "community_id",
            "to_address",
            postgresql_where=FAREWELL_UNSENT,
            sqlite_where=FAREWELL_UNSENT,
        ),
        Index("ix_messages_broadcast", "broadcast_id"),
        Index("ix_messages_community_created", "community_id", "created_at"),
        Index("ix_messages_attention", "community_id", "attention"),
        # Foreign keys PostgreSQL must check on every delete of the row they point to: without
        # these, deleting one call-out, channel or message scans every message.
        Index("ix_messages_retry_of", "retry_of_id"),
        Index("ix_messages_callout", "callout_id"),
        Index("ix_messages_channel", "channel_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL")
    )
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, 8))
    kind: Mapped[MessageKind] = mapped_column(str_enum(MessageKind, 24), default=MessageKind.REPLY)
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    from_address: Mapped[str] = mapped_column(String(64))
    to_address: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    num_media: Mapped[int] = mapped_column(Integer, default=0)
    # Inbound media Twilio keeps for us: [{"sid": "ME...", "content_type": "image/jpeg"}];
    # the console shows it through its proxy route, FORGET deletes it at Twilio.
    media: Mapped[list[dict[str, str]] | None] = mapped_column(JSON(none_as_null=True))
    # A shared WhatsApp location: {"latitude", "longitude", "address", "label"}.
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # The payload (ButtonPayload) or list id (ListId) of a tapped WhatsApp button: what the
    # flow reads instead of the display text in Body.
    payload: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[MessageStatus] = mapped_column(str_enum(MessageStatus, 16))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(String(255))
    segments: Mapped[int] = mapped_column(Integer, default=0)
    encoding: Mapped[str] = mapped_column(String(8), default="GSM-7")
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    # Set on call-out asks: the send job skips them once the call-out is filled.
    callout_id: Mapped[int | None] = mapped_column(ForeignKey("callouts.id", ondelete="SET NULL"))
    # A non-urgent text waits out quiet hours, unless it would then arrive after this moment
    # (the start of the shift it is about).
    send_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Dispatch: due from ``not_before``; ``priority`` orders due rows; ``enqueued_at`` marks
    # the hand-over to a send job; a claimed row is ``sending`` until ``lease_until``.
    priority: Mapped[int] = mapped_column(Integer, default=Priority.NORMAL, server_default="1")
    not_before: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the send gate decided last, in words a coordinator can read.
    decision: Mapped[str | None] = mapped_column(String(255))
    content_sid: Mapped[str | None] = mapped_column(String(64))  # WhatsApp template used
    # The same text as something to tap on WhatsApp (``flows.menus.Menu.to_json``): a list of
    # shifts or needs, YES / NO buttons. The send gate sends it as a content template inside
    # the 24-hour window when the community has one for it; ``body`` stays the fallback.
    interactive: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="SET NULL")
    )
    retry_of_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    # Inbound texts a coordinator should look at ("unknown": not understood, "help": HELP),
    # until someone marks them handled (the console's inbox).
    attention: Mapped[str | None] = mapped_column(String(16))
    attended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


MESSAGES = cast(Table, Message.__table__)  # the table itself, for Core statements


class Broadcast(Base):
    """One text to a segment of a community; each recipient gets a message row."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    # The segment: {"skill": ..., "language": ..., "roster_id": ...}; empty = everyone.
    segment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    # "queued" once its messages exist; "awaiting_approval" under the two-person rule until a
    # second coordinator approves (or "rejected").
    status: Mapped[str] = mapped_column(String(20), default="queued", server_default="queued")
    approved_by: Mapped[str | None] = mapped_column(String(120))
    # The console form's one-time key: a double-clicked Send finds the first broadcast.
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxItem(Base):
    """A job to run once the transaction that created it commits (transactional outbox).

    The row, not Redis, is the source of truth: a pump enqueues rows that are due and not yet
    enqueued, and re-enqueues rows whose job never finished.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "done_at", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(120))  # dotted path of an RQ job function
    queue: Mapped[str] = mapped_column(String(20), default="default")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def is_waiting() -> ColumnElement[bool]:
    """``messages.status = 'received'`` with the value written into the SQL, not a parameter:
    only then may PostgreSQL read the partial indexes of waiting texts in a prepared statement's
    generic plan (psycopg prepares a statement on its fifth run), which must hold for any
    value of a parameter. With ``status = $1`` the plan read every waiting text, or every text
    of the community, for each text answered (bench.surge)."""
    return Message.status == literal_column(f"'{MessageStatus.RECEIVED.value}'")


def is_unsent_farewell() -> ColumnElement[bool]:
    """The predicate of ``ix_messages_farewell_unsent``, its values written into the SQL for
    the same reason as ``is_waiting``'s."""
    return and_(
        Message.kind == literal_column(f"'{MessageKind.FAREWELL.value}'"),
        Message.status.in_(
            [
                literal_column(f"'{MessageStatus.PENDING.value}'"),
                literal_column(f"'{MessageStatus.SENDING.value}'"),
            ]
        ),
    )
