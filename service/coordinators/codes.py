"""One-time codes (and anything private) texted to a coordinator's registered phone, through
the send gate.

A code is a random six-digit number; only its SHA-256 (keyed by what it confirms) is stored.
The text goes out as a ``code`` message (urgent, not held by quiet hours) to the volunteer
row of that phone in the community (created, never joined, when the coordinator is not a
volunteer): the same queue, gate and delivery tracking as every other text.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service.models import Community, Message, MessageKind, Volunteer
from service.sending.queue import queue_message

CODE_DIGITS = 6


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(purpose: str, code: str) -> str:
    """The stored form of ``code`` for ``purpose`` ("phone:3", "request:12")."""
    return hashlib.sha256(f"{purpose}:{code.strip()}".encode()).hexdigest()


def matches(purpose: str, code: str, stored: str | None) -> bool:
    return stored is not None and hmac.compare_digest(code_hash(purpose, code), stored)


def recipient_row(session: Session, community: Community, phone: str, now: datetime) -> Volunteer:
    """The volunteer row of ``phone`` in ``community``; a never-joined one when it has none
    (it gets codes only: broadcasts and asks skip numbers that never joined)."""
    query = select(Volunteer).where(
        Volunteer.community_id == community.id, Volunteer.phone == phone
    )
    found = session.scalar(query)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            found = Volunteer(
                community_id=community.id,
                phone=phone,
                status=VolunteerStatus.NEW,
                language=community.default_language,
                created_at=now,
            )
            session.add(found)
    except IntegrityError:
        return session.scalars(query).one()
    return found


def send_to_phone(
    session: Session, community: Community, phone: str, body: str, key: str, now: datetime
) -> Message:
    """Queue ``body`` (a code, or WHO's list with full numbers) to the registered ``phone``
    as its own text, never in the webhook's answer; ``key`` makes it once only."""
    volunteer = recipient_row(session, community, phone, now)
    return queue_message(
        session,
        volunteer=volunteer,
        body=body,
        kind=MessageKind.CODE,
        idempotency_key=f"code:{key}",
    )
