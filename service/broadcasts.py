"""Broadcasts: one text to a segment of a community (everyone, a roster, a skill, a language).

``queue_broadcast`` records the broadcast and one outbound message row per recipient in the
caller's transaction (a multi-row insert, so 10,000 recipients take well under two seconds),
each rendered in the recipient's language. ``preview_broadcast`` says what it would cost
before anything is queued: recipients, encoding and segments per language.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from flows import catalog
from flows.engine import VolunteerStatus
from flows.sms import segment_info
from service import clock, send_gate
from service.db import utcnow
from service.models import (
    Assignment,
    Broadcast,
    Channel,
    Community,
    Cycle,
    CycleNeed,
    Direction,
    MessageStatus,
    Pledge,
    PledgeStatus,
    Priority,
    Roster,
    RosterKind,
    Shift,
    Volunteer,
)
from service.outbound import NO_CHANNEL, pick_channel, queue_many, recipient_address
from service.quiet_hours import quiet_until
from service.rosters import ACTIVE as ACTIVE_ASSIGNMENTS

MAX_TEXT_LENGTH = 1600  # Twilio's Body limit


class BroadcastError(ValueError):
    """Bad broadcast input; the message says why."""


@dataclass(frozen=True)
class Segment:
    """Who a broadcast goes to; every filter given must match."""

    skill: str | None = None
    language: str | None = None
    roster_id: int | None = None  # volunteers booked on its open shifts, or pledged to it

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


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


def preview_broadcast(
    session: Session, community: Community, text: str, segment: Segment | None = None
) -> Preview:
    text = clean_text(text)
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
    if roster_id is not None:
        roster = session.get(Roster, roster_id)
        if roster is None or roster.community_id != community.id:
            raise BroadcastError(f"no roster {roster_id} in {community.slug}")
    people = recipients(session, community, segment)
    broadcast = Broadcast(
        community_id=community.id,
        text=text,
        segment=segment.as_json(),
        recipients=len(people),
        created_by=created_by,
    )
    session.add(broadcast)
    session.flush()
    channels = session.scalars(select(Channel).where(Channel.community_id == community.id)).all()
    now, created = clock.now(), utcnow()
    # The same for every recipient (all active): due now, or when quiet hours end. The send
    # gate judges each one again at send time.
    quiet_end = quiet_until(community, now)
    not_before = quiet_end or now
    decision = send_gate.Defer(quiet_end, "quiet hours").describe() if quiet_end else None
    bodies: dict[str, tuple[str, int, str]] = {}
    rows: list[dict[str, Any]] = []
    for person in people:
        if person.language not in bodies:
            body = render(community, person.language, text)
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
                "kind": "broadcast",
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
    """Active volunteers in the segment (opted-out and paused ones are never included)."""
    query = select(
        Volunteer.id,
        Volunteer.phone,
        Volunteer.language,
        Volunteer.preferred_channel_id,
        Volunteer.skills,
    ).where(Volunteer.community_id == community.id, Volunteer.status == VolunteerStatus.ACTIVE)
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
