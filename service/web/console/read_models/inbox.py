"""The inbox as conversations: one thread per volunteer (or per sender without a volunteer
record), newest first, with the count of texts still waiting for a coordinator and the last
texts both ways. Imports service models and SQLAlchemy; the view adds the forms.

Three row predicates decide what the filters see; they are the one place to change when the
message model grows (``has_media``: Twilio's media count and a shared WhatsApp location).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from service.conversations.attention import needs_attention
from service.conversations.inbound import UNMATCHED
from service.models import CallOut, CallOutAsk, Community, Direction, Message, Volunteer

PAGE_SIZE = 20  # threads a page: at phone width 20 collapsed threads fit in under three screens
TEXTS_PER_THREAD = 6  # the last texts both ways shown in an opened thread


class InboxFilter(StrEnum):
    ATTENTION = "attention"  # texts the service did not understand, and HELP, not yet handled
    MEDIA = "media"  # texts that carried a picture or a file
    CALLOUTS = "callouts"  # volunteers who answered an urgent call-out
    ALL = "all"  # every volunteer who has texted

    @property
    def label(self) -> str:
        return FILTER_LABELS[self]


FILTER_LABELS = {
    InboxFilter.ATTENTION: "Needs attention",
    InboxFilter.MEDIA: "Media",
    InboxFilter.CALLOUTS: "Call-out answers",
    InboxFilter.ALL: "All",
}


def has_media() -> ColumnElement[bool]:
    """An inbound text that carried pictures or files (Twilio's ``NumMedia``, whose items
    ``Message.media`` keeps for the proxy route) or a shared WhatsApp location."""
    return or_(Message.num_media > 0, Message.location.is_not(None))


def answered_callout(community: Community) -> ColumnElement[bool]:
    """The text's sender answered one of this community's call-outs (yes, no, or too late)."""
    answered = (
        select(CallOutAsk.volunteer_id)
        .join(CallOut, CallOut.id == CallOutAsk.callout_id)
        .where(CallOut.community_id == community.id, CallOutAsk.answered_at.is_not(None))
    )
    return Message.volunteer_id.in_(answered)


def _thread_key() -> ColumnElement[str]:
    """A volunteer's thread is keyed by their id; a sender with no volunteer record (a short
    code, an erased volunteer's old texts) by the address."""
    return func.coalesce(cast(Message.volunteer_id, String), Message.from_address)


@dataclass(frozen=True)
class Thread:
    key: str
    volunteer: Volunteer | None
    address: str  # the sender's address (no ``whatsapp:`` prefix)
    last_at: datetime  # their latest text
    unread: int  # texts waiting for a coordinator
    help: bool  # one of them asked for HELP
    media: int  # attachments across their texts
    reply_to_id: int  # the text a reply answers: the latest one waiting, else the latest
    texts: tuple[Message, ...]  # the last texts both ways, oldest first
    callout_answer: str | None  # their latest call-out answer: yes, no, late
    unmatched: bool = False  # a short code or sender ID: no one can text it back

    @property
    def last_text(self) -> Message | None:
        return self.texts[-1] if self.texts else None


@dataclass(frozen=True)
class InboxPage:
    threads: list[Thread]
    filter: InboxFilter
    page: int
    more: bool
    counts: dict[InboxFilter, int]  # threads per filter, for the filter bar


def _grouped(community: Community, which: InboxFilter) -> Select[*tuple[Any, ...]]:
    key = _thread_key().label("key")
    waiting = func.sum(case((needs_attention(), 1), else_=0))
    # attachments: each media item, and a shared location
    attached = Message.num_media + case((Message.location.is_not(None), 1), else_=0)
    media = func.sum(case((has_media(), attached), else_=0))
    query: Select[*tuple[Any, ...]] = (
        select(
            key,
            func.max(Message.created_at).label("last_at"),
            func.max(Message.id).label("latest_id"),
            waiting.label("unread"),
            func.sum(
                case((and_(needs_attention(), Message.attention == "help"), 1), else_=0)
            ).label("help"),
            media.label("media"),
            func.max(case((needs_attention(), Message.id), else_=None)).label("waiting_id"),
            func.sum(case((Message.attention == UNMATCHED, 1), else_=0)).label("unmatched"),
            func.min(Message.volunteer_id).label("volunteer_id"),
            func.min(Message.from_address).label("address"),
        )
        .where(Message.community_id == community.id, Message.direction == Direction.INBOUND)
        .group_by(key)
    )
    if which is InboxFilter.ATTENTION:
        query = query.having(waiting > 0)
    elif which is InboxFilter.MEDIA:
        query = query.having(media > 0)
    elif which is InboxFilter.CALLOUTS:
        query = query.where(answered_callout(community))
    return query


def count_threads(session: Session, community: Community, which: InboxFilter) -> int:
    query = _grouped(community, which)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def inbox_page(
    session: Session, community: Community, which: InboxFilter, page: int = 1
) -> InboxPage:
    rows = session.execute(
        _grouped(community, which)
        .order_by(func.max(Message.created_at).desc(), func.max(Message.id).desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    volunteer_ids = [r.volunteer_id for r in rows if r.volunteer_id is not None]
    volunteers = (
        {v.id: v for v in session.scalars(select(Volunteer).where(Volunteer.id.in_(volunteer_ids)))}
        if volunteer_ids
        else {}
    )
    texts = _last_texts(session, community, volunteer_ids, [r.address for r in rows])
    answers = _callout_answers(session, volunteer_ids)
    threads = []
    for r in rows:
        volunteer = volunteers.get(r.volunteer_id) if r.volunteer_id is not None else None
        address = r.address.removeprefix("whatsapp:")
        threads.append(
            Thread(
                key=str(r.key),
                volunteer=volunteer,
                address=volunteer.phone if volunteer is not None else address,
                last_at=r.last_at,
                unread=int(r.unread or 0),
                help=bool(r.help),
                media=int(r.media or 0),
                reply_to_id=int(r.waiting_id or r.latest_id),
                texts=tuple(
                    texts.get(r.volunteer_id if r.volunteer_id is not None else r.address, ())
                ),
                callout_answer=answers.get(r.volunteer_id) if r.volunteer_id else None,
                unmatched=bool(r.unmatched),
            )
        )
    counts = {f: count_threads(session, community, f) for f in InboxFilter}
    return InboxPage(threads, which, page, more, counts)


def _last_texts(
    session: Session, community: Community, volunteer_ids: Sequence[int], addresses: Sequence[str]
) -> dict[int | str, list[Message]]:
    """The last ``TEXTS_PER_THREAD`` texts of each thread, both ways, oldest first."""
    found: dict[int | str, list[Message]] = {}
    if volunteer_ids:
        rank = (
            func.row_number()
            .over(
                partition_by=Message.volunteer_id,
                order_by=(Message.created_at.desc(), Message.id.desc()),
            )
            .label("rank")
        )
        ranked = (
            select(Message.id, rank)
            .where(Message.community_id == community.id, Message.volunteer_id.in_(volunteer_ids))
            .subquery()
        )
        for message in session.scalars(
            select(Message)
            .join(ranked, ranked.c.id == Message.id)
            .where(ranked.c.rank <= TEXTS_PER_THREAD)
            .order_by(Message.created_at, Message.id)
        ):
            if message.volunteer_id is not None:
                found.setdefault(message.volunteer_id, []).append(message)
    # Senders without a volunteer record: their texts (rare; a short code, an erased number).
    loose = [a for a in addresses if a]
    if loose:
        for message in session.scalars(
            select(Message)
            .where(
                Message.community_id == community.id,
                Message.volunteer_id.is_(None),
                or_(Message.from_address.in_(loose), Message.to_address.in_(loose)),
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(TEXTS_PER_THREAD * len(loose))
        ):
            address = (
                message.from_address
                if message.direction == Direction.INBOUND
                else message.to_address
            )
            bucket = found.setdefault(address, [])
            if len(bucket) < TEXTS_PER_THREAD:
                bucket.insert(0, message)
    return found


def _callout_answers(session: Session, volunteer_ids: Sequence[int]) -> dict[int, str]:
    answers: dict[int, str] = {}
    if not volunteer_ids:
        return answers
    for volunteer_id, answer in session.execute(
        select(CallOutAsk.volunteer_id, CallOutAsk.answer)
        .where(CallOutAsk.volunteer_id.in_(volunteer_ids), CallOutAsk.answered_at.is_not(None))
        .order_by(CallOutAsk.answered_at)
    ):
        if answer:
            answers[volunteer_id] = answer  # the latest wins
    return answers
