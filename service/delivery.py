"""Delivery status from Twilio: move a message forward (never backwards), record errors, and
turn carrier opt-outs (21610) into our own opt-out record."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import take_sqlite_write_lock
from service.effects import opt_out
from service.models import Message, Volunteer
from service.models.messages import STATUS_RANK, provider_status

log = logging.getLogger(__name__)

UNSUBSCRIBED = 21610  # recipient replied STOP to this sender at the carrier/Twilio level


def record_status(
    session: Session, sid: str, status: str, error_code: int | None, now: datetime
) -> bool:
    """Apply a status callback; returns False when the SID is unknown. Commits."""
    take_sqlite_write_lock(session)
    message = session.scalars(
        select(Message)
        .where(Message.twilio_sid == sid)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if message is None:
        log.info("status callback for unknown message %s (%s)", sid, status)
        session.rollback()
        return False
    new_status = provider_status(status)
    if new_status is not None and STATUS_RANK.get(status, -1) > STATUS_RANK.get(message.status, -1):
        message.status = new_status
    if error_code is not None:
        message.error_code = error_code
    if error_code == UNSUBSCRIBED and message.volunteer_id is not None:
        volunteer = session.get(
            Volunteer, message.volunteer_id, with_for_update=True, populate_existing=True
        )
        if volunteer is not None:
            opt_out(volunteer, f"carrier:{UNSUBSCRIBED}", now)
    session.commit()
    return True
