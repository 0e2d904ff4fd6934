"""Recurring donation rosters: needs, their cycles (one per drop-off day), pledges and
standing pledges, and the gap asks sent to volunteers.

A cycle's per-need ``pledged`` total is kept by the database within ``target`` (a CHECK
constraint and conditional updates under the row lock), so concurrent pledges never overshoot.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, UTCDateTime, str_enum, utcnow


class PledgeStatus(StrEnum):
    PLEDGED = "pledged"
    DELIVERED = "delivered"
    MISSED = "missed"
    DROPPED = "dropped"


class DonationSchedule(Base):
    """When and where a community's donation cycle happens (one per donation roster)."""

    __tablename__ = "donation_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    roster_id: Mapped[int] = mapped_column(
        ForeignKey("rosters.id", ondelete="CASCADE"), unique=True
    )
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    weekday: Mapped[int | None] = mapped_column(Integer)  # 0 = Monday; or every_days below
    every_days: Mapped[int | None] = mapped_column(Integer)
    anchor: Mapped[date | None] = mapped_column(Date)  # first day, for every_days
    place: Mapped[str] = mapped_column(String(120), default="")
    window_start_minute: Mapped[int] = mapped_column(Integer, default=10 * 60)
    window_end_minute: Mapped[int] = mapped_column(Integer, default=12 * 60)
    reminder_minute: Mapped[int] = mapped_column(Integer, default=18 * 60)  # the day before
    gap_ask_hours: Mapped[int] = mapped_column(Integer, default=48)


class Need(Base):
    __tablename__ = "needs"
    __table_args__ = (CheckConstraint("target > 0", name="target_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    roster_id: Mapped[int] = mapped_column(ForeignKey("rosters.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    item: Mapped[str] = mapped_column(String(60))
    target: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Cycle(Base):
    """One drop-off day of a donation roster."""

    __tablename__ = "cycles"
    __table_args__ = (UniqueConstraint("roster_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    roster_id: Mapped[int] = mapped_column(ForeignKey("rosters.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CycleNeed(Base):
    """A need's coverage in one cycle."""

    __tablename__ = "cycle_needs"
    __table_args__ = (
        UniqueConstraint("cycle_id", "need_id"),
        CheckConstraint("pledged >= 0 AND pledged <= target", name="within_target"),
        CheckConstraint("delivered >= 0", name="delivered_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"))
    target: Mapped[int] = mapped_column(Integer)
    pledged: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(Integer, default=0)  # bumped to lock the row

    cycle: Mapped[Cycle] = relationship()
    need: Mapped[Need] = relationship()


class Pledge(Base):
    __tablename__ = "pledges"
    __table_args__ = (
        # No unique (cycle need, volunteer): a pledge delivered or missed stays as it was, and
        # a later pledge for the same need is a new row.
        Index("ix_pledges_cycle_need_volunteer", "cycle_need_id", "volunteer_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_pledges_volunteer_status", "volunteer_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_need_id: Mapped[int] = mapped_column(ForeignKey("cycle_needs.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[PledgeStatus] = mapped_column(str_enum(PledgeStatus, 16))
    standing_id: Mapped[int | None] = mapped_column(
        ForeignKey("standing_pledges.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    cycle_need: Mapped[CycleNeed] = relationship()


class StandingPledge(Base):
    """ "I bring 5 kg rice every week": confirmed by a weekly YES, skipped on NO."""

    __tablename__ = "standing_pledges"
    __table_args__ = (UniqueConstraint("need_id", "volunteer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DonationAsk(Base):
    """A gap ask: a volunteer asked to cover a need that is short in a cycle."""

    __tablename__ = "donation_asks"
    __table_args__ = (
        UniqueConstraint("cycle_need_id", "volunteer_id"),
        Index("ix_donation_asks_volunteer_asked", "volunteer_id", "asked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_need_id: Mapped[int] = mapped_column(ForeignKey("cycle_needs.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
