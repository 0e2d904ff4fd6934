"""Two weeks of history for the demo community, so Reports and the dashboard show real figures
on the first ``make run``: past shifts with attendance, delivered broadcasts, an answered
call-out, and volunteers' conversations (a question still waiting in the inbox).

The history is made by the same code a live community runs, at past moments: texts go through
``handle_inbound`` (so replies are the catalogs' own words), sign-ups through ``claim``, the
call-out through ``start_callout``, broadcasts through ``queue_broadcast``, with the clock
frozen at each moment. What the worker would have sent then is then marked delivered, so
``make run`` sends nothing old. May import ``service`` and ``flows``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service import clock
from service.conversations.inbound import InboundMessage, handle_inbound
from service.models import (
    Assignment,
    AssignmentStatus,
    Broadcast,
    ChannelKind,
    Community,
    Direction,
    Message,
    MessageStatus,
    OutboxItem,
    Shift,
    Volunteer,
)
from service.rosters import callouts
from service.rosters import shifts as rosters
from service.sending.broadcasts import queue_broadcast

HISTORY_DAYS = 14


@dataclass(frozen=True)
class PastShift:
    days_ago: int
    hour: int
    hours: int
    title: str
    place: str
    capacity: int
    takers: tuple[str, ...]  # phones, in sign-up order
    no_shows: tuple[str, ...] = ()


# The demo's volunteers (``demo.DEMO_VOLUNTEERS``) by phone.
ANA, BEN, CHITRA, DEV, ELENA, FARAH, GUS, HANA = (f"+120255501{n}" for n in range(11, 19))

PAST_SHIFTS = (
    PastShift(13, 9, 4, "Sandbag team", "School gym", 4, (BEN, ANA, DEV, GUS)),
    PastShift(12, 17, 3, "Shelter kitchen", "Church hall", 3, (CHITRA, HANA, ELENA)),
    PastShift(10, 9, 4, "Sandbag team", "School gym", 4, (DEV, BEN, FARAH, GUS), (FARAH,)),
    PastShift(8, 10, 2, "Supply run", "Depot, 4 Mill Rd", 2, (ANA, BEN)),
    PastShift(6, 17, 3, "Shelter kitchen", "Church hall", 3, (CHITRA, ELENA)),
    PastShift(4, 9, 4, "Sandbag team", "School gym", 4, (GUS, DEV, HANA), (HANA,)),
    PastShift(2, 17, 3, "Shelter kitchen", "Church hall", 3, (CHITRA, HANA, FARAH)),
)
CALLOUT_SHIFT = 4  # index in PAST_SHIFTS: short of people on the day, two answered YES
BROADCASTS = (
    (11, 12, "Sandbags are stacked at the school. Thank you! More shifts this week: text SHIFTS."),
    (5, 18, "The river is falling. The shelter kitchen still needs cooks: text SHIFTS to help."),
)


def add_history(session: Session, community: Community, now: datetime) -> None:
    """Seed the history ending at ``now`` (the clock is restored afterwards)."""
    zone = ZoneInfo(community.timezone)
    today = now.astimezone(zone).date()
    people = {
        v.phone: v
        for v in session.scalars(select(Volunteer).where(Volunteer.community_id == community.id))
    }
    joined = now - timedelta(days=HISTORY_DAYS + 3)
    for volunteer in people.values():
        volunteer.created_at = volunteer.consent_at = joined
    texts = Texts(session, community)
    jobs_before = session.scalar(select(func.max(OutboxItem.id))) or 0

    def local(days_ago: int, hour: int, minute: int = 0) -> datetime:
        day = today - timedelta(days=days_ago)
        return datetime.combine(day, time(hour, minute), tzinfo=zone)

    for index, spec in enumerate(PAST_SHIFTS):
        starts = local(spec.days_ago, spec.hour)
        ends = starts + timedelta(hours=spec.hours)
        posted = starts - timedelta(days=2, hours=3)
        with frozen(posted):
            shift = rosters.add_shift(
                session,
                community,
                title=spec.title,
                place=spec.place,
                starts_at=starts,
                ends_at=ends,
                capacity=spec.capacity,
            )
            shift.created_at = posted
        for n, phone in enumerate(spec.takers):
            at = posted + timedelta(minutes=40 + 37 * n)
            if index == 0 and phone == BEN:
                texts.sign_up(BEN, spec.title, at)  # Ben's own thread: SHIFTS, then its number
                continue
            with frozen(at):
                rosters.claim(session, people[phone], community, shift.id, at)
        if index == CALLOUT_SHIFT:
            with frozen(starts - timedelta(hours=3)):
                callout = callouts.start_callout(
                    session, shift, community, 2, "Water in the hall, mops needed.", clock.now()
                )
            asked = session.scalars(
                select(Volunteer)
                .join(Message, Message.volunteer_id == Volunteer.id)
                .where(Message.callout_id == callout.id)
                .order_by(Volunteer.id)
            ).all()
            for n, volunteer in enumerate(asked[:3]):
                answer = "NO" if n == 1 else "YES"
                texts.send(volunteer.phone, answer, starts - timedelta(hours=2, minutes=50 - 6 * n))
        attend(session, shift, starts, ends, spec, people, texts)

    for days_ago, hour, text in BROADCASTS:
        with frozen(local(days_ago, hour)):
            queue_broadcast(session, community, text, created_by="demo@example.org")
        session.execute(
            update(Broadcast)
            .where(Broadcast.community_id == community.id, Broadcast.text == text)
            .values(created_at=local(days_ago, hour))
        )

    # Conversations that reached a person: one handled, one still waiting in the inbox.
    texts.send(ELENA, "Can I bring my teenage son to the kitchen shift?", local(7, 11, 20))
    session.execute(
        update(Message)
        .where(Message.community_id == community.id, Message.attention.is_not(None))
        .values(attended_at=local(7, 12, 5))
    )
    texts.send(GUS, "HELP", local(3, 8, 2))
    texts.send(
        CHITRA, "Is the church hall open early on Saturday?\nI can bring soup.", local(1, 19)
    )
    texts.send(BEN, "MY", local(0, 8, 15) if local(0, 8, 15) < now else local(1, 21))

    with frozen(now):
        rosters.mark_no_shows(session, now)
    settle(session, community, now, jobs_before)


def attend(
    session: Session,
    shift: Shift,
    starts: datetime,
    ends: datetime,
    spec: PastShift,
    people: dict[str, Volunteer],
    texts: Texts,
) -> None:
    """Check in and out everyone who held a place, but the no-shows (Ben by text)."""
    holders = session.scalars(
        select(Assignment).where(
            Assignment.shift_id == shift.id, Assignment.status == AssignmentStatus.CONFIRMED
        )
    ).all()
    for n, assignment in enumerate(holders):
        phone = next(p for p, v in people.items() if v.id == assignment.volunteer_id)
        if phone in spec.no_shows:
            continue
        arrived = starts - timedelta(minutes=10) + timedelta(minutes=4 * n)
        left = ends + timedelta(minutes=(7 * n) % 25)
        if phone == BEN:
            texts.send(BEN, "IN", arrived)
            texts.send(BEN, "OUT", left)
            continue
        assignment.status = AssignmentStatus.CHECKED_OUT
        assignment.checked_in_at, assignment.checked_out_at = arrived, left
        assignment.minutes_served = int((left - arrived).total_seconds() // 60)


class Texts:
    """Texts from the demo's volunteers through the simulator channel, at given moments."""

    def __init__(self, session: Session, community: Community) -> None:
        channel = community.channel(ChannelKind.SIMULATOR)
        assert channel is not None, "the demo community has a simulator channel"
        self.session, self.to = session, channel.address
        self.sids: Iterator[int] = itertools.count(1)

    def send(self, phone: str, body: str, at: datetime) -> tuple[str, ...]:
        inbound = InboundMessage(
            sid=f"SIMDEMO{next(self.sids):06d}",
            kind=ChannelKind.SIMULATOR,
            sender=phone,
            to=self.to,
            body=body,
        )
        with frozen(at):
            return handle_inbound(self.session, inbound, at).replies

    def sign_up(self, phone: str, title: str, at: datetime) -> None:
        """Text SHIFTS, then the number the menu gives ``title``."""
        (menu, *_) = self.send(phone, "SHIFTS", at)
        number = next(
            line.split(")")[0].strip()
            for line in menu.splitlines()
            if title in line and line.split(")")[0].strip().isdigit()
        )
        self.send(phone, number, at + timedelta(minutes=2))


@contextmanager
def frozen(moment: datetime) -> Iterator[None]:
    clock.freeze(moment)
    try:
        yield
    finally:
        clock.freeze(None)


def settle(session: Session, community: Community, now: datetime, jobs_before: int) -> None:
    """What the worker would have done by ``now``: every text due by then delivered (at the
    time it was due), every job due by then done; nothing old is left for ``make run`` to send.
    """
    due = session.scalars(
        select(Message).where(
            Message.community_id == community.id,
            Message.direction == Direction.OUTBOUND,
            Message.status.in_((MessageStatus.PENDING, MessageStatus.SENDING)),
            Message.not_before <= now,
        )
    ).all()
    for message in due:
        # Rows queued by a job at a frozen moment carry it in not_before, not created_at.
        message.created_at = min(message.created_at, message.not_before)
        message.status = MessageStatus.DELIVERED
        message.sent_at = message.updated_at = message.not_before
        message.decision = "sent"
        message.attempts = 1
    session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.id > jobs_before,  # only the history's own jobs
            OutboxItem.done_at.is_(None),
            OutboxItem.available_at <= now,
        )
        .values(done_at=now, enqueued_at=now)
    )
