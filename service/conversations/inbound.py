"""Handle one inbound text: store it, dedupe by MessageSid, lock the volunteer, run one flow
step, and commit the stored text with the new state, its replies and outbox rows at once.

One transaction on the happy path: the text is inserted first with ``ON CONFLICT DO NOTHING``
on its MessageSid, so a concurrent retry waits on that row and then finds it processed. When
the step fails, the transaction is rolled back and the text alone is stored (``received``),
so nothing is lost and a retry of the same MessageSid processes it. A retry of a processed
MessageSid returns the stored replies and changes nothing. A short code's or an alphanumeric
sender's text is stored unmatched (no volunteer, no reply) for the console's inbox. Imports
``flows`` and ``service`` modules only.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from flows import conversation
from flows.engine import Context, OptIn, Outcome, VolunteerStatus
from flows.sms import segment_info
from service.conversations.destinations import find_destination
from service.conversations.effects import apply_effects, load_session_state, save_session_state
from service.conversations.questions import pending_question
from service.conversations.replies import store_replies
from service.coordinators.commands import answer_coordinator_command
from service.db import insert_unless_present, take_sqlite_write_lock
from service.models import (
    Channel,
    ChannelKind,
    Community,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Volunteer,
)
from service.rosters.shifts import RosterLookup
from service.sending.delivery import mark_reachable
from service.sending.outbox import queued_due_work
from service.volunteers import privacy
from service.volunteers.phones import SenderKind, mask

log = logging.getLogger(__name__)

MAX_BODY_LENGTH = 4096  # WhatsApp's limit; SMS bodies arrive at most 1,600 characters
# Replies that mean a coordinator should look at the text (the console's inbox), by reply key:
# the fallback's replies tell the volunteer that a person will read it.
ATTENTION_BY_REPLY = {
    "unknown": "unknown",
    "unknown.give": "unknown",
    "help": "help",
    "received.media": "media",
    "received.location": "location",
}
UNMATCHED = "unmatched"  # a short code's or an alphanumeric sender's text: no one to answer


@dataclass(frozen=True)
class MediaRef:
    """One media item Twilio stored with an inbound message (fetched through the console)."""

    sid: str  # ME + 32 hex
    content_type: str


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    address: str = ""
    label: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """A validated inbound text. ``sender`` is E.164 for a phone (else the short code or
    alphanumeric sender as Twilio gave it); channel is found from ``to`` and kind.
    ``payload`` is a tapped button's payload or list item's id: the flow reads it, never the
    button's display text in ``body``."""

    sid: str
    kind: ChannelKind
    sender: str
    to: str
    body: str
    num_media: int = 0
    sender_kind: SenderKind = SenderKind.PHONE
    media: tuple[MediaRef, ...] = ()
    location: Location | None = None
    payload: str | None = None

    @property
    def attachment(self) -> str:
        """What the flow is told came besides words: "media", "location" or ""."""
        if self.media:
            return "media"
        return "location" if self.location is not None else ""

    @property
    def flow_text(self) -> str:
        return self.payload if self.payload is not None else self.body


@dataclass(frozen=True)
class InboundResult:
    replies: tuple[str, ...]
    message_id: int
    duplicate: bool
    # The step queued a text or a job that is due now, for the outbox to hand over at once
    # (a menu, a HELP or a claim queues nothing due: the reply goes back in the TwiML answer).
    queued: bool = False


class UnknownDestination(LookupError):
    """No community owns the number that was texted."""


def handle_inbound(session: Session, inbound: InboundMessage, now: datetime) -> InboundResult:
    """Store, dedupe and process one text in one transaction; commits (the caller's reads too)."""
    if session.in_transaction():
        session.commit()  # begin afresh, so that on SQLite the transaction holds the write lock
    take_sqlite_write_lock(session)
    channel, community, has_donations, from_service = _destination(session, inbound)
    row = _inbound_row(channel, inbound, now)
    if inbound.sender_kind != SenderKind.PHONE:
        return _store_unmatched(session, row, inbound.sender_kind, now)
    message = _insert(session, row)
    if message is None:  # stored before: a retry (a concurrent one waited for the first)
        message = session.scalars(
            select(Message)
            .where(Message.twilio_sid == inbound.sid)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        if message.status == MessageStatus.PROCESSED:
            replies = _stored_replies(session, message)
            session.commit()  # end the read: hand the connection back before the outbox kick
            return InboundResult(replies, message.id, duplicate=True)
    if from_service:
        # A community's own number (a loop, a spoof) or another community's: kept for the
        # coordinators, but it never becomes a volunteer and never gets a reply.
        message.status = MessageStatus.PROCESSED
        message.processed_at = now
        session.commit()
        log.warning("inbound %s from a service number: stored, not processed", inbound.sid)
        return InboundResult((), message.id, duplicate=False)
    try:
        # A verified coordinator phone of this community: its commands first (TODAY, SAY...);
        # any other text goes on to the volunteer conversation.
        commanded = answer_coordinator_command(
            session, community, channel, message, inbound.sender, inbound.body, now
        )
        if commanded is not None:
            return InboundResult(commanded, message.id, False, queued_due_work(session))
        return _process(session, channel, community, has_donations, message, inbound, now)
    except Exception:
        session.rollback()
        _keep_unprocessed(session, row)
        raise


def _store_unmatched(
    session: Session, row: dict[str, object], kind: SenderKind, now: datetime
) -> InboundResult:
    """A short code's or an alphanumeric sender's text: kept for coordinators (the inbox),
    never answered and never a volunteer (no one can text such a sender back)."""
    row = {**row, "status": MessageStatus.PROCESSED, "attention": UNMATCHED, "processed_at": now}
    message = _insert(session, row)
    duplicate = message is None
    if message is None:
        message = session.scalars(
            select(Message).where(Message.twilio_sid == row["twilio_sid"])
        ).one()
    session.commit()
    log.info("inbound %s from a %s sender kept unmatched", row["twilio_sid"], kind.value)
    return InboundResult((), message.id, duplicate=duplicate)


def _destination(
    session: Session, inbound: InboundMessage
) -> tuple[Channel, Community, bool, bool]:
    """The channel texted, its community, whether that community runs donations, and whether
    the sender is any community's channel address (this one's or another's): one query, or
    none while the process's cache holds them (``service.conversations.destinations``)."""
    found = find_destination(session, inbound.kind, inbound.to, inbound.sender)
    if found is None:
        raise UnknownDestination(inbound.to)
    return found.channel, found.community, found.has_donations, found.from_service


def _inbound_row(channel: Channel, inbound: InboundMessage, now: datetime) -> dict[str, object]:
    info = segment_info(inbound.body)
    return {
        "community_id": channel.community_id,
        "channel_id": channel.id,
        "direction": Direction.INBOUND,
        "kind": MessageKind.INBOUND,
        "twilio_sid": inbound.sid,
        "from_address": _address(inbound.kind, inbound.sender),
        "to_address": channel.twilio_address,
        "body": inbound.body,
        "num_media": inbound.num_media,
        "media": [{"sid": m.sid, "content_type": m.content_type} for m in inbound.media] or None,
        "location": None if inbound.location is None else asdict(inbound.location),
        "payload": inbound.payload,
        "status": MessageStatus.RECEIVED,
        "segments": info.segments,
        "encoding": info.encoding.value,
        "created_at": now,
        "updated_at": now,
    }


def _insert(session: Session, row: dict[str, object]) -> Message | None:
    """The new inbound message, or None when its MessageSid is stored already."""
    statement = _INSERT_MESSAGE.get(session.get_bind().dialect.name)
    if statement is None:  # built once per database kind: the row goes as parameters
        statement = insert_unless_present(session, Message, "twilio_sid").returning(Message)
        _INSERT_MESSAGE[session.get_bind().dialect.name] = statement
    return session.scalars(statement, row).one_or_none()


_INSERT_MESSAGE: dict[str, Executable] = {}


def _keep_unprocessed(session: Session, row: dict[str, object]) -> None:
    """After a failed step: store the text alone (``received``) so a retry can process it."""
    try:
        take_sqlite_write_lock(session)
        _insert(session, row)
        session.commit()
    except SQLAlchemyError as exc:  # the step's own error is the one worth raising
        session.rollback()
        log.warning(
            "inbound %s could not be stored after a failed step: %s", row["twilio_sid"], exc
        )


def _process(
    session: Session,
    channel: Channel,
    community: Community,
    has_donations: bool,
    message: Message,
    inbound: InboundMessage,
    now: datetime,
) -> InboundResult:
    """Run one flow step under the volunteer's row lock and commit it with the message."""
    volunteer = _lock_volunteer(session, community, inbound.sender, now)
    # Read before the volunteer changes below: the lazy load would flush them in a statement
    # of their own, ahead of the one UPDATE at the commit.
    state = load_session_state(volunteer)
    if channel.kind != ChannelKind.SIMULATOR or volunteer.preferred_channel_id is None:
        volunteer.preferred_channel_id = channel.id
    if channel.kind == ChannelKind.WHATSAPP:
        volunteer.whatsapp_inbound_at = now  # opens WhatsApp's 24-hour window
    mark_reachable(volunteer)
    if (
        volunteer.status == VolunteerStatus.PAUSED
        and volunteer.paused_until is not None
        and volunteer.paused_until <= now
    ):
        volunteer.status = VolunteerStatus.ACTIVE  # the break is over
        volunteer.paused_until = None
    lookup: conversation.Lookup = RosterLookup(session, volunteer, community, now)  # lazy
    context = Context(
        status=volunteer.status,
        name=volunteer.name,
        language=volunteer.language,
        community_name=community.name,
        channel=channel.kind.value,
        now=now,
        help_contact=community.help_contact,
        zone=community.timezone,
        country=community.country,
        clock=community.clock or "",
        lookup=lookup,
        pending=pending_question(volunteer, now),
        has_donations=has_donations,
        attachment=inbound.attachment,
        tapped=inbound.payload is not None,
    )
    outcome = conversation.step(context, state, inbound.flow_text)
    if _stale_opt_in(volunteer, message, outcome.effects):
        # A text received before the volunteer's opt-out (a retry processed late, a replay)
        # never re-subscribes them: only a text sent after the STOP may.
        outcome = Outcome(state)
        log.warning("inbound %s: opt-in older than the opt-out ignored", inbound.sid)
    results = apply_effects(session, volunteer, community, outcome.effects, now)
    texts = outcome.render(context, results)
    save_session_state(session, volunteer, outcome.session)
    if (
        channel.kind == ChannelKind.SMS
        and volunteer.consent_at is not None
        and volunteer.sms_consent_at is None
    ):
        volunteer.sms_consent_at = now  # consented and texting by SMS: SMS may reach them
    store_replies(
        session,
        channel,
        message,
        texts,
        now,
        volunteer_id=volunteer.id,
        to_address=privacy.ERASED if volunteer.erased_at else None,
    )
    message.volunteer_id = volunteer.id
    message.attention = next(
        (ATTENTION_BY_REPLY[r.key] for r in outcome.replies if r.key in ATTENTION_BY_REPLY), None
    )
    message.status = MessageStatus.PROCESSED
    message.processed_at = now
    session.commit()
    log.info(
        "inbound %s from %s: %d reply(ies), %d effect(s)",
        inbound.sid,
        mask(inbound.sender),
        len(texts),
        len(outcome.effects),
    )
    return InboundResult(texts, message.id, duplicate=False, queued=queued_due_work(session))


def _stale_opt_in(volunteer: Volunteer, message: Message, effects: tuple[object, ...]) -> bool:
    opted_out_at = volunteer.opted_out_at
    return (
        opted_out_at is not None
        and message.created_at < opted_out_at
        and any(isinstance(effect, OptIn) for effect in effects)
    )


# Built once: a statement built per text costs more Python than its execution (issue 18).
LOCK_VOLUNTEER = (
    select(Volunteer)
    .where(
        Volunteer.community_id == bindparam("community_id"),
        Volunteer.phone == bindparam("phone"),
    )
    .with_for_update()
    .execution_options(populate_existing=True)
)


def _lock_volunteer(session: Session, community: Community, phone: str, now: datetime) -> Volunteer:
    """The volunteer row for ``phone``, locked for this transaction; created when new.

    The conversation row is read after the lock (lazily): joined into this statement it would
    come from the snapshot taken before the lock wait, and may already be stale.
    """
    params = {"community_id": community.id, "phone": phone}
    volunteer = session.scalars(LOCK_VOLUNTEER, params).one_or_none()
    if volunteer is not None:
        return volunteer
    try:
        with session.begin_nested():
            volunteer = Volunteer(
                community_id=community.id,
                phone=phone,
                status=VolunteerStatus.NEW,
                language=community.default_language,  # until the first text tells otherwise
                created_at=now,
            )
            session.add(volunteer)
    except IntegrityError:  # created concurrently by another message from the same number
        return session.scalars(LOCK_VOLUNTEER, params).one()
    return volunteer


def _stored_replies(session: Session, message: Message) -> tuple[str, ...]:
    return tuple(
        session.scalars(
            select(Message.body)
            .where(Message.reply_to_id == message.id, Message.kind == MessageKind.REPLY)
            .order_by(Message.id)
        ).all()
    )


def _address(kind: ChannelKind, e164: str) -> str:
    return f"whatsapp:{e164}" if kind == ChannelKind.WHATSAPP else e164
