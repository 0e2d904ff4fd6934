"""Coordinator accounts and their role in each community they help run."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, UTCDateTime, str_enum, utcnow


class Role(StrEnum):
    OWNER = "owner"  # settings and coordinators, and everything below
    COORDINATOR = "coordinator"  # rosters and messaging
    VIEWER = "viewer"  # read-only, numbers masked

    @property
    def rank(self) -> int:
        return {Role.VIEWER: 0, Role.COORDINATOR: 1, Role.OWNER: 2}[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class Coordinator(Base):
    __tablename__ = "coordinators"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped when the password is set or reset: every older console session is signed out.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # TOTP two-factor sign-in: the base32 secret, active once a first code confirmed it.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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
