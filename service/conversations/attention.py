"""Texts waiting for a coordinator (the console's inbox): which ones wait, and marking a
volunteer's whole conversation handled. Imports service models and SQLAlchemy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, update
from sqlalchemy.orm import Session

from service.models import Direction, Message


def needs_attention() -> ColumnElement[bool]:
    """An inbound text the service flagged for a coordinator (not understood, HELP), not yet
    handled."""
    return and_(Message.attention.is_not(None), Message.attended_at.is_(None))


def thread_of(message: Message) -> ColumnElement[bool]:
    """The inbound texts of the thread ``message`` belongs to."""
    same_sender = (
        Message.volunteer_id == message.volunteer_id
        if message.volunteer_id is not None
        else and_(Message.volunteer_id.is_(None), Message.from_address == message.from_address)
    )
    return and_(
        Message.community_id == message.community_id,
        Message.direction == Direction.INBOUND,
        same_sender,
    )


def mark_thread_handled(session: Session, message: Message, now: datetime) -> int:
    """Every text of the thread still waiting is handled; returns how many were."""
    result = session.execute(
        update(Message)
        .where(thread_of(message), needs_attention())
        .values(attended_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(message)
    return int(getattr(result, "rowcount", 0) or 0)
