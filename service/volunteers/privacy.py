"""Privacy: erasing a volunteer on request (FORGET), the hashed suppression list, message
retention, and the checks that keep an erased number from being added back by mistake.

Runs in the caller's transaction. Imports models, ``service.communities.audit`` and
``service.volunteers.opt_out`` (what an erasure gives back, as any opt-out does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, delete, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from flows.engine import VolunteerStatus
from service.communities import audit
from service.conversations.media import forget_media
from service.models import Community, Message, MessageKind, MessageStatus, Suppression, Volunteer
from service.volunteers.opt_out import FORGET_SOURCE, give_back

ERASED = "erased"  # what an erased volunteer's addresses read in the message log
RETENTION_BATCH = 5_000  # message bodies cleared per community per run (short transactions)
SUPPRESSED_REASON = "asked to be forgotten; they can text JOIN to come back"


def phone_hash(community_id: int, e164: str) -> str:
    """A one-way hash of a number, per community. It keeps the number out of plain sight;
    phone numbers are a small space, so treat the list as confidential all the same."""
    return hashlib.sha256(f"handsup:suppression:{community_id}:{e164}".encode()).hexdigest()


def is_suppressed(session: Session, community_id: int, e164: str) -> bool:
    return (
        session.scalar(
            select(Suppression.id).where(
                Suppression.community_id == community_id,
                Suppression.phone_hash == phone_hash(community_id, e164),
            )
        )
        is not None
    )


def suppressed_among(session: Session, community_id: int, numbers: list[str]) -> set[str]:
    """Which of ``numbers`` are on the community's suppression list (one query)."""
    by_hash = {phone_hash(community_id, number): number for number in numbers}
    if not by_hash:
        return set()
    found = session.scalars(
        select(Suppression.phone_hash).where(
            Suppression.community_id == community_id, Suppression.phone_hash.in_(by_hash)
        )
    ).all()
    return {by_hash[h] for h in found}


def lift_suppression(session: Session, community_id: int, e164: str) -> None:
    """The person texted us and consented again: their number may be texted once more."""
    session.execute(
        delete(Suppression).where(
            Suppression.community_id == community_id,
            Suppression.phone_hash == phone_hash(community_id, e164),
        )
    )


def forget_volunteer(session: Session, volunteer: Volunteer, now: datetime) -> None:
    """Give back the volunteer's upcoming places and pledges (as any opt-out does), then erase
    them (see ``erase``)."""
    give_back(session, volunteer, now, source=FORGET_SOURCE)
    erase(session, volunteer, now)


def erase(session: Session, volunteer: Volunteer, now: datetime) -> None:
    """Erase the volunteer's personal data and message texts, keep anonymous counts.

    The row stays (assignments, hours and message counts still add up) with no name, number,
    skills or conversation; every message to or from them loses its text and addresses;
    anything still waiting to be sent is suppressed. The number's hash goes on the
    suppression list so an import or a coordinator cannot add it back by mistake.
    """
    community_id, phone = volunteer.community_id, volunteer.phone
    if volunteer.erased_at is None and not phone.startswith(ERASED):
        session.add(
            Suppression(
                community_id=community_id,
                phone_hash=phone_hash(community_id, phone),
                reason="forget",
                created_at=now,
            )
        )
    session.flush()
    mine = or_(
        Message.volunteer_id == volunteer.id,
        Message.from_address.in_((phone, f"whatsapp:{phone}")),
        Message.to_address.in_((phone, f"whatsapp:{phone}")),
    )
    with_media = session.scalars(
        select(Message).where(
            Message.community_id == community_id,
            mine,
            or_(Message.media.is_not(None), Message.location.is_not(None)),
        )
    ).all()
    forget_media(session, list(with_media), "forget")  # and asks Twilio to delete it
    waiting = (MessageStatus.PENDING, MessageStatus.SENDING)
    session.execute(
        update(Message)
        .where(Message.community_id == community_id, mine, Message.status.in_(waiting))
        .values(status=MessageStatus.SUPPRESSED, decision="volunteer asked to be forgotten")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Message)
        .where(Message.community_id == community_id, mine)
        .values(
            volunteer_id=volunteer.id,
            body="",
            from_address=_erased_or(Message.from_address, phone),
            to_address=_erased_or(Message.to_address, phone),
            error_message=None,
        )
        .execution_options(synchronize_session=False)
    )
    volunteer.phone = f"{ERASED}-{volunteer.id}"
    volunteer.name = None
    volunteer.skills = []
    volunteer.availability = ""
    volunteer.consent_wording = None
    volunteer.pending_question = None
    volunteer.whatsapp_inbound_at = None
    volunteer.preferred_channel_id = None
    volunteer.urgent_ok = False
    if volunteer.status != VolunteerStatus.OPTED_OUT:
        volunteer.status = VolunteerStatus.OPTED_OUT
        volunteer.opted_out_at = now
        volunteer.opt_out_source = FORGET_SOURCE
    volunteer.erased_at = now
    audit.record(
        session,
        community_id=community_id,
        actor=None,
        actor_label="volunteer (FORGET)",
        action="erased on request",
        subject=f"volunteer:{volunteer.id}",
        now=now,
    )


def forget_farewell_addresses(session: Session, message_ids: Sequence[int]) -> None:
    """The FAREWELLs among ``message_ids`` whose send is settled (accepted by Twilio, failed
    or suppressed) lose their recipient's number, as every other message of theirs did at
    the erasure. One still waiting for a retry, or being sent, keeps it until then."""
    session.execute(
        update(Message)
        .where(
            Message.id.in_(list(message_ids)),
            Message.kind == MessageKind.FAREWELL,
            Message.status.not_in((MessageStatus.PENDING, MessageStatus.SENDING)),
        )
        .values(to_address=ERASED)
        .execution_options(synchronize_session=False)
    )


def _erased_or(column: InstrumentedAttribute[str], phone: str) -> ColumnElement[str]:
    """``erased`` where the address was the volunteer's, else the address unchanged."""
    return case((column.in_((phone, f"whatsapp:{phone}")), ERASED), else_=column)


def apply_retention(session: Session, now: datetime) -> int:
    """Clear message texts older than each community's retention, with their media and
    locations (Twilio is asked to delete the media); returns how many messages."""
    cleared = 0
    for community_id, days in session.execute(
        select(Community.id, Community.retention_days).where(Community.retention_days.is_not(None))
    ).all():
        cutoff = now - timedelta(days=days or 0)
        ids = session.scalars(
            select(Message.id)
            .where(
                Message.community_id == community_id,
                Message.created_at < cutoff,
                or_(
                    Message.body != "",
                    Message.media.is_not(None),
                    Message.location.is_not(None),
                ),
                Message.status.not_in((MessageStatus.PENDING, MessageStatus.SENDING)),
            )
            .limit(RETENTION_BATCH)
        ).all()
        if ids:
            with_media = session.scalars(
                select(Message).where(
                    Message.id.in_(ids),
                    or_(Message.media.is_not(None), Message.location.is_not(None)),
                )
            ).all()
            forget_media(session, list(with_media), "retention")
            session.execute(
                update(Message)
                .where(Message.id.in_(ids))
                .values(body="")
                .execution_options(synchronize_session=False)
            )
            cleared += len(ids)
    return cleared
