"""What needs a coordinator's eye today, for the console dashboard: upcoming shifts, the next
donation cycle, recent inbound texts, delivery problems and volunteers who stepped back.

A fixed handful of queries whatever the community's size; read-only. Imports models and
service modules only (no Flask).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from service.models import (
    Channel,
    Community,
    Direction,
    Message,
    MessageStatus,
    Volunteer,
    VolunteerStatus,
)
from service.sending.delivery import FILTERED_WINDOW, reason_for
from service.web.console.read_models.rosters import (
    CycleCoverage,
    ShiftRow,
    next_cycle_coverage,
    shift_rows,
)

UPCOMING_SHIFTS = 6
RECENT_INBOUND = 10
RECENT_PROBLEMS = 10
PROBLEM_WINDOW = timedelta(days=7)
STEPPED_BACK_WINDOW = timedelta(days=14)
LIST_LIMIT = 10
PROBLEM_STATUSES = (MessageStatus.FAILED, MessageStatus.UNDELIVERED)


@dataclass(frozen=True)
class TextRow:
    """A message with its volunteer's name (None: unknown sender or erased)."""

    message: Message
    name: str | None
    reason: str = ""

    @property
    def phone(self) -> str:
        message = self.message
        address = (
            message.from_address if message.direction == Direction.INBOUND else message.to_address
        )
        return address.removeprefix("whatsapp:")


@dataclass(frozen=True)
class Dashboard:
    shifts: list[ShiftRow]
    next_cycle: CycleCoverage | None
    inbound: list[TextRow]
    needs_attention: int
    failures: list[TextRow]
    unreachable: list[Volunteer]
    # Senders carrier filtering (30007) hit in its counting window, and whether it paused them.
    filtered_senders: list[Channel]
    stepped_back: list[Volunteer]
    active_volunteers: int


def build(session: Session, community: Community, now: datetime) -> Dashboard:
    inbound = [
        TextRow(message, name)
        for message, name in session.execute(
            select(Message, Volunteer.name)
            .outerjoin(Volunteer, Volunteer.id == Message.volunteer_id)
            .where(Message.community_id == community.id, Message.direction == Direction.INBOUND)
            .order_by(Message.id.desc())
            .limit(RECENT_INBOUND)
        )
    ]
    failures = [
        TextRow(message, name, reason_for(message.error_code, message.error_message or ""))
        for message, name in session.execute(
            select(Message, Volunteer.name)
            .outerjoin(Volunteer, Volunteer.id == Message.volunteer_id)
            .where(
                Message.community_id == community.id,
                Message.direction == Direction.OUTBOUND,
                Message.status.in_(PROBLEM_STATUSES),
                Message.updated_at > now - PROBLEM_WINDOW,
            )
            .order_by(Message.updated_at.desc(), Message.id.desc())
            .limit(RECENT_PROBLEMS)
        )
    ]
    unreachable = list(
        session.scalars(
            select(Volunteer)
            .where(
                Volunteer.community_id == community.id,
                Volunteer.unreachable_at.is_not(None),
                Volunteer.status != VolunteerStatus.OPTED_OUT,
            )
            .order_by(Volunteer.unreachable_at.desc())
            .limit(LIST_LIMIT)
        )
    )
    filtered_senders = list(
        session.scalars(
            select(Channel)
            .where(
                Channel.community_id == community.id,
                Channel.filtered_count > 0,
                Channel.filtered_at > now - FILTERED_WINDOW,
            )
            .order_by(Channel.id)
        )
    )
    since = now - STEPPED_BACK_WINDOW
    stepped_back = list(
        session.scalars(
            select(Volunteer)
            .where(
                Volunteer.community_id == community.id,
                or_(
                    and_(
                        Volunteer.status == VolunteerStatus.OPTED_OUT,
                        Volunteer.opted_out_at > since,
                    ),
                    # No pause timestamp is kept: the last change of the row stands in for it.
                    and_(Volunteer.status == VolunteerStatus.PAUSED, Volunteer.updated_at > since),
                ),
            )
            .order_by(func.coalesce(Volunteer.opted_out_at, Volunteer.updated_at).desc())
            .limit(LIST_LIMIT)
        )
    )
    attention = session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.community_id == community.id,
            Message.attention.is_not(None),
            Message.attended_at.is_(None),
        )
    )
    active = session.scalar(
        select(func.count())
        .select_from(Volunteer)
        .where(Volunteer.community_id == community.id, Volunteer.status == VolunteerStatus.ACTIVE)
    )
    return Dashboard(
        shifts=shift_rows(session, community, now, limit=UPCOMING_SHIFTS),
        next_cycle=next_cycle_coverage(session, community, now),
        inbound=inbound,
        needs_attention=int(attention or 0),
        failures=failures,
        unreachable=unreachable,
        filtered_senders=filtered_senders,
        stepped_back=stepped_back,
        active_volunteers=int(active or 0),
    )
