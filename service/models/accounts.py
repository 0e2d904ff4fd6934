"""Coordinator accounts and their role in each community they help run."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, UTCDateTime, str_enum, utcnow


class Role(StrEnum):
    OWNER = "owner"
    COORDINATOR = "coordinator"
    VIEWER = "viewer"


class Coordinator(Base):
    __tablename__ = "coordinators"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="coordinator")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("coordinator_id", "community_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("coordinators.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(str_enum(Role, 16), default=Role.COORDINATOR)

    coordinator: Mapped[Coordinator] = relationship(back_populates="memberships")
