"""Communities, the channels (Twilio numbers, WhatsApp senders, the simulator) they own, and
the WhatsApp content templates created for them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, UTCDateTime, str_enum, utcnow


class ChannelKind(StrEnum):
    SMS = "sms"
    WHATSAPP = "whatsapp"
    SIMULATOR = "simulator"


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166 alpha-2, default phone region
    timezone: Mapped[str] = mapped_column(String(64))
    help_contact: Mapped[str] = mapped_column(String(120), default="")
    # Quiet hours in local minutes after midnight (default 21:00-08:00); no non-urgent texts.
    quiet_start_minute: Mapped[int] = mapped_column(Integer, default=21 * 60, server_default="1260")
    quiet_end_minute: Mapped[int] = mapped_column(Integer, default=8 * 60, server_default="480")
    ask_limit_per_week: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    # Send SMS through a Twilio Messaging Service instead of the channel's From number.
    messaging_service_sid: Mapped[str | None] = mapped_column(String(34))
    # Approved WhatsApp templates by message kind ("reminder", ..., or "default"): Content SIDs
    # used outside the 24-hour window. Variables: {"1": community name, "2": the text}.
    whatsapp_templates: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )
    # Console safeguards for communities that protect vulnerable members.
    require_totp: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Numbers masked for every role; showing one is an explicit, audited action.
    protect_numbers: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A whole-community broadcast waits for a second coordinator's approval.
    two_person_broadcasts: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Under the two-person rule, a broadcast to more recipients than this waits for approval;
    # NULL: a quarter of the active volunteers or 50, whichever is smaller.
    two_person_threshold: Mapped[int | None] = mapped_column(Integer)
    # Message texts older than this many days are deleted (the rows and counts stay).
    retention_days: Mapped[int | None] = mapped_column(Integer)
    # Times in texts on the "12h" or "24h" clock; None: as the community's country writes them.
    clock: Mapped[str | None] = mapped_column(String(3))
    # The language a new number is answered in when its first text does not tell.
    default_language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    channels: Mapped[list[Channel]] = relationship(back_populates="community")

    def channel(self, kind: ChannelKind) -> Channel | None:
        return next((c for c in self.channels if c.kind == kind), None)


class Channel(Base):
    """One address a community is reached at. ``address`` is E.164 (no ``whatsapp:`` prefix)."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("kind", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[ChannelKind] = mapped_column(str_enum(ChannelKind, 16))
    address: Mapped[str] = mapped_column(String(32))
    # Messages per second this sender may send; None: the carrier default for its number type.
    rate_per_second: Mapped[float | None] = mapped_column(Float)
    # Carrier filtering (30007) is about the sender or the content, not the recipient: counted
    # here, and past ``service.sending.delivery.FILTERED_PAUSE_AFTER`` bulk sends pause.
    filtered_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    filtered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bulk_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    community: Mapped[Community] = relationship(back_populates="channels")

    @property
    def twilio_address(self) -> str:
        """The address as Twilio writes it in ``From``/``To``."""
        if self.kind == ChannelKind.WHATSAPP:
            return f"whatsapp:{self.address}"
        return self.address


class WhatsAppContent(Base):
    """A Content API template HandsUp created for a community's interactive WhatsApp messages
    (``handsup whatsapp-templates sync``): one per language and purpose (``list:1`` ...
    ``list:10``, a list-picker of that many items; ``yes_no``, two quick-reply buttons)."""

    __tablename__ = "whatsapp_contents"
    __table_args__ = (UniqueConstraint("community_id", "language", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    purpose: Mapped[str] = mapped_column(String(16))
    content_sid: Mapped[str] = mapped_column(String(34))  # HX + 32 hex
    friendly_name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
