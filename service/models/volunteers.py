"""Volunteers (one per phone number per community), their conversation sessions, and the
suppression list that outlives an erased volunteer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flows.engine import VolunteerStatus
from service.db import Base, UTCDateTime, str_enum, utcnow

__all__ = ["ConversationSession", "Suppression", "Volunteer", "VolunteerStatus"]


class Volunteer(Base):
    __tablename__ = "volunteers"
    __table_args__ = (
        UniqueConstraint("community_id", "phone"),
        Index("ix_volunteers_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    name: Mapped[str | None] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[VolunteerStatus] = mapped_column(
        str_enum(VolunteerStatus, 16), default=VolunteerStatus.NEW
    )
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_source: Mapped[str | None] = mapped_column(String(40))
    consent_wording: Mapped[str | None] = mapped_column(Text)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opt_out_source: Mapped[str | None] = mapped_column(String(40))
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: until RESUME
    urgent_ok: Mapped[bool] = mapped_column(
        default=False, server_default=false()
    )  # call-outs even in quiet hours
    availability: Mapped[str] = mapped_column(String(200), default="", server_default="")
    last_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last question we texted that YES/NO/DROP may answer: {"kind", "id", "expires_at"}.
    pending_question: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The WhatsApp 24-hour customer-service window opens with each inbound WhatsApp text.
    whatsapp_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Consent to plain SMS (joined or texted over SMS, or imported): WhatsApp may fall back to it.
    sms_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Delivery problems: consecutive undelivered texts; unreachable once it reaches a limit.
    undelivered_streak: Mapped[int] = mapped_column(default=0, server_default="0")
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the carrier said the number does not exist or is a landline (30005/30006):
    # nothing more is sent to it until the volunteer texts from it.
    unreachable_code: Mapped[int | None] = mapped_column(Integer)
    preferred_channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="SET NULL")
    )
    # Set when the volunteer asked to be forgotten (FORGET): the row stays, anonymous, so
    # counts (hours served, fill rates) still add up.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    session: Mapped[ConversationSession | None] = relationship(
        back_populates="volunteer", cascade="all, delete-orphan"
    )


class ConversationSession(Base):
    """Where a volunteer is in a flow; one row per volunteer, absent when idle."""

    __tablename__ = "conversation_sessions"

    volunteer_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), primary_key=True
    )
    flow: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    volunteer: Mapped[Volunteer] = relationship(back_populates="session")


class Suppression(Base):
    """A number that must never be texted again by mistake: left behind by an erasure.

    Only a one-way hash of the number is kept (``service.volunteers.privacy.phone_hash``), so
    the list does not hold the number itself.
    """

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("community_id", "phone_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    phone_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(40), default="forget")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
