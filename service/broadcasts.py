"""Broadcasts: one outbound message per matching volunteer, queued in one transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import catalog
from flows.engine import VolunteerStatus
from service.models import Community, Volunteer
from service.outbound import queue_message

MAX_TEXT_LENGTH = 1600  # Twilio's Body limit


class BroadcastError(ValueError):
    """Bad broadcast input; the message says why."""


def queue_broadcast(
    session: Session,
    community: Community,
    text: str,
    *,
    skill: str | None = None,
    language: str | None = None,
) -> int:
    """Queue ``text`` to every active volunteer matching the filters; returns the count."""
    text = text.strip()
    if not text:
        raise BroadcastError("--text must not be empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise BroadcastError(f"--text must be at most {MAX_TEXT_LENGTH} characters")
    query = select(Volunteer).where(
        Volunteer.community_id == community.id, Volunteer.status == VolunteerStatus.ACTIVE
    )
    if language:
        query = query.where(Volunteer.language == language)
    broadcast_id = uuid.uuid4().hex
    count = 0
    for volunteer in session.scalars(query.order_by(Volunteer.id)):
        if skill and skill.lower() not in (volunteer.skills or []):
            continue
        body = catalog.render(
            volunteer.language, "broadcast", {"community": community.name, "text": text}
        )
        queue_message(
            session,
            volunteer=volunteer,
            body=body,
            kind="broadcast",
            idempotency_key=f"broadcast:{broadcast_id}:{volunteer.id}",
            queue="bulk",
        )
        count += 1
    return count
