"""Urgent call-outs for a shift ("need 4 people now, reply YES") and who was asked."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, str_enum, utcnow


class CallOutStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CLOSED = "closed"


class CallOut(Base):
    __tablename__ = "callouts"
    __table_args__ = (
        CheckConstraint("need > 0", name="need_positive"),
        CheckConstraint("filled >= 0 AND filled <= need", name="within_need"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"))
    need: Mapped[int] = mapped_column(Integer)
    filled: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[CallOutStatus] = mapped_column(
        str_enum(CallOutStatus, 16), default=CallOutStatus.OPEN
    )
    waves_sent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CallOutAsk(Base):
    """One volunteer asked in one call-out; ``answer`` is yes, no, or late (full when they said
    yes)."""

    __tablename__ = "callout_asks"
    __table_args__ = (
        UniqueConstraint("callout_id", "volunteer_id"),
        Index("ix_callout_asks_volunteer_asked", "volunteer_id", "asked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    callout_id: Mapped[int] = mapped_column(ForeignKey("callouts.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    wave: Mapped[int] = mapped_column(Integer, default=1)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer: Mapped[str | None] = mapped_column(String(8))
