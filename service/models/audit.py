"""The audit log: who did what in a community's console (or CLI), and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    """One recorded action. ``subject`` names the object (``volunteer:12``, ``shift:3``)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_community_created", "community_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    coordinator_id: Mapped[int | None] = mapped_column(
        ForeignKey("coordinators.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(254))  # the email at the time, or "cli"
    action: Mapped[str] = mapped_column(String(40))  # created, changed, exported, broadcast, ...
    subject: Mapped[str] = mapped_column(String(80), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
