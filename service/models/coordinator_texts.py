"""Coordinators by text: a coordinator's registered phone per community, and the send
commands (CALLOUT, SAY) waiting for the one-time code texted to that phone."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, str_enum, utcnow


class CoordinatorPhone(Base):
    """One phone per (coordinator, community); a number is one coordinator's per community.

    ``verified_at`` NULL: registered in the console, waiting for the code texted to it
    (only its hash is kept, with an expiry). Texts from a verified number to the community's
    number are read as coordinator commands first.
    """

    __tablename__ = "coordinator_phones"
    __table_args__ = (
        UniqueConstraint("coordinator_id", "community_id"),
        UniqueConstraint("community_id", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("coordinators.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RequestKind(StrEnum):
    CALLOUT = "callout"
    SAY = "say"


class RequestStatus(StrEnum):
    PENDING = "pending"  # waiting for YES and the code texted to the registered number
    AWAITING_SECOND = "awaiting_second"  # confirmed; the two-person rule wants another person
    DONE = "done"  # sent (the call-out started, the broadcast queued)
    EXPIRED = "expired"


class CommandRequest(Base):
    """A CALLOUT or SAY that waits for its code; the code is single-use (``used_at``)."""

    __tablename__ = "coordinator_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    coordinator_id: Mapped[int] = mapped_column(
        ForeignKey("coordinators.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[RequestKind] = mapped_column(str_enum(RequestKind, 16))
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, 16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A large SAY held for a second person: the broadcast awaiting approval (console or text).
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="SET NULL")
    )
    callout_id: Mapped[int | None] = mapped_column(ForeignKey("callouts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
