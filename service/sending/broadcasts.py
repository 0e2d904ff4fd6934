"""Broadcasts: one text to a segment of a community (everyone, a roster, a skill, a language).

``queue_broadcast`` records the broadcast and one outbound message row per recipient in the
caller's transaction (a multi-row insert, so 10,000 recipients take well under two seconds),
each rendered in the recipient's language. ``preview_broadcast`` says what it would cost
before anything is queued: recipients, encoding and segments per language, and an estimated
cost.

The console sends through ``send_broadcast``: under a community's two-person rule a
broadcast to more recipients than the threshold (``approval_threshold``), whatever its
segment, is recorded as ``awaiting_approval`` with no messages until a second person
(another account and mailbox, verified by the operator, not created by the requester)
approves it (``approve_broadcast``, which queues them then) or rejects it
(``reject_broadcast``). ``queue_broadcast`` (the CLI, run by an operator) queues at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from flows import catalog
from flows.sms import segment_info
from service import clock
from service.db import take_sqlite_write_lock, utcnow
from service.models import (
    Assignment,
    Broadcast,
    Channel,
    Community,
    Coordinator,
    Cycle,
    CycleNeed,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Pledge,
    PledgeStatus,
    Priority,
    Roster,
    RosterKind,
    Shift,
    Volunteer,
    VolunteerStatus,
)
from service.rosters.shifts import ACTIVE as ACTIVE_ASSIGNMENTS
from service.sending import eligibility
from service.sending.eligibility import pick_channel
from service.sending.gate import DeferSend
from service.sending.queue import NO_CHANNEL, queue_many, recipient_address

MAX_TEXT_LENGTH = 1600  # Twilio's Body limit
# What one outbound SMS segment costs, for the composer's estimate: Twilio's US list price for
# a long-code SMS (about $0.0083 a segment, carrier fees aside). Other countries and WhatsApp
# are priced differently, so the console always calls it an estimate.
PRICE_PER_SEGMENT_USD = Decimal("0.0083")
# The same text to the same segment by the same coordinator within this window is taken for a
# double submit of the send form and not sent again.


class BroadcastError(ValueError):
    """Bad broadcast input; the message says why."""


class ApprovalError(BroadcastError):
    """The approval or rejection is not allowed (own broadcast, already decided)."""


class BroadcastStatus(StrEnum):
    QUEUED = "queued"  # its messages exist
    AWAITING_APPROVAL = "awaiting_approval"  # two-person rule: no messages yet
    REJECTED = "rejected"


@dataclass(frozen=True)
class Segment:
    """Who a broadcast goes to; every filter given must match."""

    skill: str | None = None
    language: str | None = None
    roster_id: int | None = None  # volunteers booked on its open shifts, or pledged to it

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Segment:
        data = data or {}
        roster_id = data.get("roster_id")
        return cls(
            skill=data.get("skill") or None,
            language=data.get("language") or None,
            roster_id=int(roster_id) if roster_id is not None else None,
        )

    @property
    def is_everyone(self) -> bool:
        return self.skill is None and self.language is None and self.roster_id is None


@dataclass(frozen=True)
class LanguagePreview:
    language: str
    recipients: int
    encoding: str
    segments: int  # per message


@dataclass(frozen=True)
class Preview:
    recipients: int
    segments: int  # in total, what the carrier bills
    languages: tuple[LanguagePreview, ...]

    @property
    def estimated_cost(self) -> Decimal:
        """US dollars at ``PRICE_PER_SEGMENT_USD`` (an estimate, see there)."""
        return estimated_cost(self.segments)


def estimated_cost(segments: int) -> Decimal:
    return (PRICE_PER_SEGMENT_USD * segments).quantize(Decimal("0.01"))


def preview_broadcast(
    session: Session, community: Community, text: str, segment: Segment | None = None
) -> Preview:
    text = clean_text(text)
    check_segment(session, community, segment or Segment())
    languages = Counter(v.language for v in recipients(session, community, segment or Segment()))
    rows = []
    for language, count in sorted(languages.items()):
        info = segment_info(render(community, language, text))
        rows.append(LanguagePreview(language, count, info.encoding.value, info.segments))
    return Preview(
        recipients=sum(languages.values()),
        segments=sum(row.recipients * row.segments for row in rows),
        languages=tuple(rows),
    )


def queue_broadcast(
    session: Session,
    community: Community,
    text: str,
    *,
    skill: str | None = None,
    language: str | None = None,
    roster_id: int | None = None,
    created_by: str = "",
) -> int:
    """Queue ``text`` to every active volunteer in the segment; returns the count."""
    text = clean_text(text)
    segment = Segment(skill=skill, language=language, roster_id=roster_id)
    check_segment(session, community, segment)
    broadcast = Broadcast(
        community_id=community.id,
        text=text,
        segment=segment.as_json(),
        created_by=created_by,
        status=BroadcastStatus.QUEUED,
    )
    session.add(broadcast)
    session.flush()
    return _queue_messages(session, community, broadcast, recipients(session, community, segment))


DEFAULT_THRESHOLD_CAP = 50  # the default threshold: a quarter of the active, at most 50


def approval_threshold(session: Session, community: Community) -> int:
    """Recipients a broadcast may reach without a second person, under the two-person rule."""
    if community.two_person_threshold is not None:
        return community.two_person_threshold
    active = session.scalar(
        select(func.count())
        .select_from(Volunteer)
        .where(Volunteer.community_id == community.id, Volunteer.status == VolunteerStatus.ACTIVE)
    )
    return min(int(active or 0) // 4, DEFAULT_THRESHOLD_CAP)


def needs_approval(session: Session, community: Community, recipients: int) -> bool:
    """The two-person rule holds any broadcast above the threshold, whatever its segment."""
    return community.two_person_broadcasts and recipients > approval_threshold(session, community)


@dataclass(frozen=True)
class Sent:
    """What ``send_broadcast`` did: the broadcast, and whether it was a repeated submit."""

    broadcast: Broadcast
    duplicate: bool = False


def send_broadcast(
    session: Session,
    community: Community,
    text: str,
    segment: Segment,
    *,
    requested_by: str,
    request_key: str | None = None,
    now: datetime | None = None,
) -> Sent:
    """Queue a broadcast, or hold it for a second coordinator under the two-person rule.

    ``request_key`` is the sending form's one-time key: submitting the same form again (a
    double-clicked Send, a reload) returns the first broadcast instead of sending twice.
    """
    text = clean_text(text)
    check_segment(session, community, segment)
    now = now or clock.now()
    take_sqlite_write_lock(session)  # serialises two submits of the same form
    session.scalar(select(Community.id).where(Community.id == community.id).with_for_update())
    if request_key is not None:
        earlier = session.scalar(
            select(Broadcast).where(
                Broadcast.community_id == community.id, Broadcast.request_key == request_key
            )
        )
        if earlier is not None:
            return Sent(earlier, duplicate=True)
    people = recipients(session, community, segment)
    if not people:
        raise BroadcastError("no active volunteer is in this segment")
    held = needs_approval(session, community, len(people))
    broadcast = Broadcast(
        community_id=community.id,
        text=text,
        segment=segment.as_json(),
        created_by=requested_by,
        status=BroadcastStatus.AWAITING_APPROVAL if held else BroadcastStatus.QUEUED,
        request_key=request_key,
        created_at=now,
    )
    session.add(broadcast)
    session.flush()
    if held:
        broadcast.recipients = len(people)
    else:
        _queue_messages(session, community, broadcast, people)
    return Sent(broadcast)


def approve_broadcast(
    session: Session,
    community: Community,
    broadcast_id: int,
    *,
    approver: Coordinator,
    now: datetime | None = None,
) -> Broadcast:
    """A second person's approval: queue the messages (to today's segment members).

    The approver is another account with another email (``a+x@`` is ``a@``), whose email
    the operator attested, and which the requester did not create.
    """
    broadcast = _decide(session, community, broadcast_id)
    check_approver(session, broadcast.created_by, approver)
    broadcast.status = BroadcastStatus.QUEUED
    broadcast.approved_by = approver.email
    broadcast.decided_at = now or clock.now()
    people = recipients(session, community, Segment.from_json(broadcast.segment))
    _queue_messages(session, community, broadcast, people)
    return broadcast


def reject_broadcast(
    session: Session,
    community: Community,
    broadcast_id: int,
    *,
    decided_by: str,
    now: datetime | None = None,
) -> Broadcast:
    """Turn a held broadcast down (its requester may withdraw it too); nothing is sent."""
    broadcast = _decide(session, community, broadcast_id)
    broadcast.status = BroadcastStatus.REJECTED
    broadcast.approved_by = decided_by  # who decided
    broadcast.decided_at = now or clock.now()
    return broadcast


def _decide(session: Session, community: Community, broadcast_id: int) -> Broadcast:
    """The held broadcast, locked so two decisions cannot both go through."""
    take_sqlite_write_lock(session)
    broadcast = session.scalars(
        select(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.community_id == community.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if broadcast is None:
        raise BroadcastError(f"no broadcast {broadcast_id} in {community.slug}")
    if broadcast.status != BroadcastStatus.AWAITING_APPROVAL:
        raise ApprovalError(f"this broadcast is already {broadcast.status.replace('_', ' ')}")
    return broadcast


def check_approver(session: Session, requested_by: str, approver: Coordinator) -> None:
    """Raise ``ApprovalError`` unless ``approver`` is a second person for this request."""
    if _same_person(requested_by, approver.email):
        raise ApprovalError("a broadcast needs a different coordinator to approve it")
    if approver.email_verified_at is None:
        raise ApprovalError(
            "only an account whose email the operator verified may approve broadcasts"
        )
    requester = session.scalar(
        select(Coordinator).where(Coordinator.email == requested_by.strip().lower())
    )
    if requester is not None and approver.created_by_id == requester.id:
        raise ApprovalError("an account created by the requester cannot approve their broadcast")


def mailbox(email: str) -> str:
    """The mailbox an address reaches: lower-cased, without a ``+tag``."""
    local, _, domain = email.strip().lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _same_person(a: str, b: str) -> bool:
    return mailbox(a) == mailbox(b)


def status_counts(session: Session, broadcast: Broadcast) -> dict[str, int]:
    """How many of the broadcast's messages are in each status (resends included)."""
    rows = session.execute(
        select(Message.status, func.count())
        .where(Message.broadcast_id == broadcast.id)
        .group_by(Message.status)
    ).all()
    return {MessageStatus(status).value: int(count) for status, count in rows}


def check_segment(session: Session, community: Community, segment: Segment) -> None:
    if segment.roster_id is not None:
        roster = session.get(Roster, segment.roster_id)
        if roster is None or roster.community_id != community.id:
            raise BroadcastError(f"no roster {segment.roster_id} in {community.slug}")


def _queue_messages(
    session: Session, community: Community, broadcast: Broadcast, people: list[Person]
) -> int:
    """One outbound row per recipient, in a multi-row insert."""
    broadcast.recipients = len(people)
    channels = session.scalars(select(Channel).where(Channel.community_id == community.id)).all()
    now, created = clock.now(), utcnow()
    # The same for every recipient (none is on a break): due now, or when quiet hours end.
    # The send gate judges each one again at send time.
    quiet_end = eligibility.quiet_wait(community, MessageKind.BROADCAST, now)
    not_before = quiet_end or now
    decision = DeferSend(quiet_end, "quiet hours").describe() if quiet_end else None
    bodies: dict[str, tuple[str, int, str]] = {}
    rows: list[dict[str, Any]] = []
    for person in people:
        if person.language not in bodies:
            body = render(community, person.language, broadcast.text)
            info = segment_info(body)
            bodies[person.language] = (body, info.segments, info.encoding.value)
        body, segments, encoding = bodies[person.language]
        channel = pick_channel(channels, person.preferred_channel_id)
        rows.append(
            {
                "community_id": community.id,
                "channel_id": channel.id if channel else None,
                "volunteer_id": person.id,
                "direction": Direction.OUTBOUND,
                "kind": MessageKind.BROADCAST,
                "idempotency_key": f"broadcast:{broadcast.id}:{person.id}",
                "from_address": channel.twilio_address if channel else "",
                "to_address": recipient_address(channel, person.phone) if channel else person.phone,
                "body": body,
                "status": MessageStatus.PENDING if channel else MessageStatus.FAILED,
                "decision": decision if channel else NO_CHANNEL,
                "segments": segments,
                "encoding": encoding,
                "num_media": 0,
                "attempts": 0,
                "priority": Priority.BULK,
                "not_before": not_before,
                "broadcast_id": broadcast.id,
                "created_at": created,
                "updated_at": created,
            }
        )
    queue_many(session, rows)
    return len(rows)


@dataclass(frozen=True)
class Person:
    """What a broadcast needs of a recipient (plain rows: 10,000 ORM objects cost a second)."""

    id: int
    phone: str
    language: str
    preferred_channel_id: int | None


def recipients(session: Session, community: Community, segment: Segment) -> list[Person]:
    """Volunteers in the segment whom the send gate would let a broadcast through to
    (``service.sending.eligibility``): opted-out ones and those on a break are never
    included, nor WhatsApp users it cannot reach; quiet hours defer the broadcast as a whole."""
    channels = session.scalars(select(Channel).where(Channel.community_id == community.id)).all()
    eligible = eligibility.recipients_clause(
        MessageKind.BROADCAST, community, channels, clock.now()
    )
    query = select(
        Volunteer.id,
        Volunteer.phone,
        Volunteer.language,
        Volunteer.preferred_channel_id,
        Volunteer.skills,
    ).where(Volunteer.community_id == community.id, eligible)
    if segment.language:
        query = query.where(Volunteer.language == segment.language)
    if segment.roster_id is not None:
        query = query.where(Volunteer.id.in_(_roster_members(session, segment.roster_id)))
    skill = segment.skill.lower() if segment.skill else None
    return [
        Person(row.id, row.phone, row.language, row.preferred_channel_id)
        for row in session.execute(query.order_by(Volunteer.id))
        if skill is None or skill in (row.skills or [])
    ]


def _roster_members(session: Session, roster_id: int) -> Select[Any]:
    roster = session.get_one(Roster, roster_id)
    now = clock.now()
    if roster.kind == RosterKind.DONATIONS:
        return (
            select(Pledge.volunteer_id)
            .join(CycleNeed, CycleNeed.id == Pledge.cycle_need_id)
            .join(Cycle, Cycle.id == CycleNeed.cycle_id)
            .where(
                Cycle.roster_id == roster_id,
                Cycle.ends_at > now,
                Pledge.status == PledgeStatus.PLEDGED,
            )
        )
    return (
        select(Assignment.volunteer_id)
        .join(Shift, Shift.id == Assignment.shift_id)
        .where(
            Shift.roster_id == roster_id,
            Shift.ends_at > now,
            Assignment.status.in_(ACTIVE_ASSIGNMENTS),
        )
    )


def clean_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise BroadcastError("--text must not be empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise BroadcastError(f"--text must be at most {MAX_TEXT_LENGTH} characters")
    return text


def render(community: Community, language: str, text: str) -> str:
    return catalog.render(language, "broadcast", {"community": community.name, "text": text})
