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
    # Attested by the operator (``handsup create-coordinator``): only such an account may be
    # the second person of the two-person rule.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The account that created this one through an invitation (NULL: the operator): it may not
    # approve what its creator asked for.
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("coordinators.id", ondelete="SET NULL")
    )

    memberships: Mapped[list[Membership]] = relationship(back_populates="coordinator")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("coordinator_id", "community_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("coordinators.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(str_enum(Role, 16), default=Role.COORDINATOR)

    coordinator: Mapped[Coordinator] = relationship(back_populates="memberships")


class Invitation(Base):
    """An owner's invitation to help run a community, accepted by the invitee signed in.

    Only a hash of the link's token is stored. The owner gets the same answer whether an
    account has the email or not; the invitee accepts (or creates an account) from the link.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(str_enum(Role, 16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("coordinators.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
