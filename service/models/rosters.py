"""Disaster-response rosters: shifts with a capacity, and volunteers' assignments to them.

A shift's ``confirmed_count`` is the number of places taken; a CHECK constraint keeps it within
``capacity``, and claims update it with a conditional UPDATE, so capacity holds under any
concurrency (database-level guarantee).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, UTCDateTime, str_enum, utcnow

DEFAULT_REMINDER_OFFSETS = [24 * 60, 2 * 60]  # minutes before the shift starts


class RosterKind(StrEnum):
    SHIFTS = "shifts"
    DONATIONS = "donations"


class ShiftStatus(StrEnum):
    OPEN = "open"
    FULL = "full"
    CANCELLED = "cancelled"
    DONE = "done"


class AssignmentStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    DROPPED = "dropped"
    CHECKED_IN = "checked_in"
    CHECKED_OUT = "checked_out"
    NO_SHOW = "no_show"


# Statuses that hold one of the shift's places.
PLACE_HOLDING = (
    AssignmentStatus.CONFIRMED,
    AssignmentStatus.CHECKED_IN,
    AssignmentStatus.CHECKED_OUT,
    AssignmentStatus.NO_SHOW,
)


class Roster(Base):
    __tablename__ = "rosters"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[RosterKind] = mapped_column(str_enum(RosterKind, 16))
    name: Mapped[str] = mapped_column(String(120))
    reminder_offsets: Mapped[list[int]] = mapped_column(
        JSON, default=lambda: list(DEFAULT_REMINDER_OFFSETS)
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Shift(Base):
    __tablename__ = "shifts"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint(
            "confirmed_count >= 0 AND confirmed_count <= capacity", name="within_capacity"
        ),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_shifts_community_starts", "community_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    roster_id: Mapped[int] = mapped_column(ForeignKey("rosters.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(80))
    place: Mapped[str] = mapped_column(String(120))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    confirmed_count: Mapped[int] = mapped_column(Integer, default=0)
    skill: Mapped[str | None] = mapped_column(String(40))
    # Bumped under the shift's row lock by every claim: orders the waitlist, and identifies a
    # booking so a re-sign-up gets fresh reminders.
    queue_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped when the shift moves: reminders planned for an older version are skipped.
    schedule_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[ShiftStatus] = mapped_column(str_enum(ShiftStatus, 16), default=ShiftStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    roster: Mapped[Roster] = relationship()


class Assignment(Base):
    """One volunteer on one shift. ``queue_seq`` orders the waitlist."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("shift_id", "volunteer_id"),
        Index("ix_assignments_volunteer", "volunteer_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    status: Mapped[AssignmentStatus] = mapped_column(str_enum(AssignmentStatus, 16))
    source: Mapped[str] = mapped_column(String(20), default="sms")
    queue_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # YES to a reminder
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    minutes_served: Mapped[int | None] = mapped_column(Integer)
    dropped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    shift: Mapped[Shift] = relationship()
