"""Handle one inbound text: store it, dedupe by MessageSid, lock the volunteer, run one flow
step, and commit the stored text with the new state, its replies and outbox rows at once.

**Deferred texts.** Under surge (``service.conversations.surge``) the webhook passes its
process's ``DeferredIntake``: the text is stored ``received`` in the intake's next batch
(``service.conversations.intake``) and acknowledged, and a worker runs its step
later (``answer_stored``, driven by ``service.conversations.deferred``), queueing the replies
through the send gate instead of the TwiML answer. A text is also deferred, surge or not, when
an earlier text of the same sender is still waiting (``received``): each volunteer's texts are
processed in the order they were stored. An opt-out is never deferred: it is applied at the
moment of the text, ahead of any earlier text still waiting (which then meets an opted-out
volunteer, and whose replies the send gate holds back).

One transaction on the happy path: the text is inserted first with ``ON CONFLICT DO NOTHING``
on its MessageSid, so a concurrent retry waits on that row and then finds it processed. When
the step fails, the transaction is rolled back and the text alone is stored (``received``),
so nothing is lost and a retry of the same MessageSid processes it. A retry of a processed
MessageSid returns the stored replies and changes nothing. A short code's or an alphanumeric
sender's text is stored unmatched (no volunteer, no reply) for the console's inbox. Imports
``flows`` and ``service`` modules only.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.sql.dml import ReturningInsert

from flows import conversation
from flows.engine import Context, Forget, OptIn, Outcome, VolunteerStatus
from flows.keywords import Intent
from flows.sms import segment_info
from service.conversations.destinations import find_destination
from service.conversations.effects import apply_effects, load_session_state, save_session_state
from service.conversations.intake import DeferredIntake
from service.conversations.questions import pending_question
from service.conversations.replies import store_replies
from service.coordinators.commands import answer_coordinator_command
from service.db import (
    insert_id_unless_present,
    insert_unless_present,
    set_changed,
    take_sqlite_write_lock,
)
from service.models import (
    MESSAGES,
    Channel,
    ChannelKind,
    Community,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Volunteer,
    is_unsent_farewell,
    is_waiting,
)
from service.rosters.shifts import RosterLookup
from service.sending import interactive
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
UNANSWERABLE = "failed"  # a deferred text whose step failed: set aside for a person to read


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
    # Stored and left for a worker (surge, or an earlier text of the sender still waiting):
    # nothing to answer now; the worker must be woken.
    deferred: bool = False


class UnknownDestination(LookupError):
    """No community owns the number that was texted."""


def handle_inbound(
    session: Session,
    inbound: InboundMessage,
    now: datetime,
    *,
    intake: DeferredIntake | None = None,
    surging: Callable[[], bool] | None = None,
) -> InboundResult:
    """Store, dedupe and process one text in one transaction; commits (the caller's reads too).

    With ``intake`` (the web process is in surge) the text is only stored, with the intake's
    next batch, unless it opts out (``_defer``). ``surging`` (the web process's gauge): when
    it says the process entered surge while this text was on its way, the text is left for a
    worker at the last moment before its step (``_process``).
    """
    if session.in_transaction():
        session.commit()  # begin afresh, so that on SQLite the transaction holds the write lock
    if intake is not None and (deferred := _defer(session, intake, inbound, now)) is not None:
        return deferred
    take_sqlite_write_lock(session)
    channel, community, has_donations, from_service = _destination(session, inbound)
    row = inbound_row(channel, inbound, now)
    # the sender whose lock the insert takes first (PostgreSQL only)
    locked_sender = inbound.sender if takes_sender_locks(session) else None
    if inbound.sender_kind != SenderKind.PHONE:
        return _store_unmatched(session, row, inbound.sender_kind, now, locked_sender)
    message = _insert_answered(session, row, inbound.sender, now, locked_sender)
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
        message.volunteer_id = None  # never a volunteer's text, whoever has the number
        session.commit()
        log.warning("inbound %s from a service number: stored, not processed", inbound.sid)
        return InboundResult((), message.id, duplicate=False)
    try:
        return _step(
            session, channel, community, has_donations, message, inbound, now, surging=surging
        )
    except Exception:
        session.rollback()
        _keep_unprocessed(session, row)
        raise


def opts_out(inbound: InboundMessage) -> bool:
    """Whether the text withdraws consent (STOP and its kin): applied now, never deferred."""
    if inbound.payload is not None:
        return False  # a tapped button names a choice, never an opt-out
    keyword = conversation.classify(inbound.body)
    return keyword is not None and keyword.intent == Intent.STOP


def _defer(
    session: Session, intake: DeferredIntake, inbound: InboundMessage, now: datetime
) -> InboundResult | None:
    """Under surge: store the text with the intake's next batch (it takes the sender's lock)
    and leave it for a worker. None when it is answered now all the same: an opt-out, a
    short code's or an alphanumeric sender's text, or a service number's. A retry of a stored
    MessageSid gets its stored replies once it is processed."""
    if inbound.sender_kind != SenderKind.PHONE or opts_out(inbound):
        return None
    found = find_destination(session, inbound.kind, inbound.to, inbound.sender, attach=False)
    if found is None:
        raise UnknownDestination(inbound.to)
    if found.from_service:
        return None
    row = inbound_row(found.channel, inbound, now)
    if session.in_transaction():  # the cache's miss read the destination: end it before
        session.commit()  # the wait (a commit with nothing begun would begin one to end it)
    message_id = intake.store(row, inbound.sender)
    if message_id is not None:
        return InboundResult((), message_id, duplicate=False, deferred=True)
    stored = session.scalars(select(Message).where(Message.twilio_sid == inbound.sid)).one()
    replies = _stored_replies(session, stored) if stored.status == MessageStatus.PROCESSED else ()
    session.commit()
    deferred = stored.status == MessageStatus.RECEIVED
    return InboundResult(replies, stored.id, duplicate=True, deferred=deferred)


class WaitingText(NamedTuple):
    """A deferred text as the worker's batch query reads it: enough to take its sender's lock
    before the row is read."""

    id: int
    community_id: int
    from_address: str

    @property
    def sender(self) -> str:
        return self.from_address.removeprefix("whatsapp:")


def answer_stored(session: Session, text: WaitingText, now: datetime) -> bool:
    """A worker's turn at a deferred text: run its step and queue its replies through the send
    gate, in one transaction (commits). False when it is not ready: processed already (by
    another worker, or a retry in the webhook) or an earlier text of its sender is waiting.

    The text is claimed in one statement (``_CLAIM``): an UPDATE that marks it answered (as
    the webhook's insert does, ``_insert_answered``: the step's commit then sends no UPDATE
    of it) and returns it with its channel's kind and address, only while it is still
    ``received``. The sender's lock is taken first, then the message row's, then the
    volunteer's, in the webhook's order, so the two never wait on each other in a cycle: on
    PostgreSQL the lock is a CTE joined to the row (``_CLAIM_LOCKED``), which PostgreSQL
    reads before the UPDATE locks the row, and a row answered during either wait (by another
    worker, or a retry in the webhook) no longer matches once locked. A text that waits after
    all goes back to ``received`` before it commits, and a step that fails rolls the claim
    back with it.
    """
    if session.in_transaction():
        session.commit()
    take_sqlite_write_lock(session)
    claim = {
        "message_id": text.id,
        "now": now,
        "of_community": text.community_id,
        "phone": text.sender,  # whose lock the claim takes, and whose volunteer it reads
    }
    statement = _CLAIM_LOCKED if takes_sender_locks(session) else _CLAIM
    found = session.execute(statement, claim).one_or_none()
    if found is None:
        session.commit()
        return False
    message = _as_loaded(session, {c.key: found._mapping[c] for c in MESSAGES.columns})
    inbound = stored_inbound(message, found.channel_kind, found.channel_address)
    channel, community, has_donations, _ = _destination(session, inbound)
    result = _step(
        session, channel, community, has_donations, message, inbound, now, send_replies=True
    )
    return not result.deferred


def _step(
    session: Session,
    channel: Channel,
    community: Community,
    has_donations: bool,
    message: Message,
    inbound: InboundMessage,
    now: datetime,
    *,
    send_replies: bool = False,
    surging: Callable[[], bool] | None = None,
) -> InboundResult:
    """A verified coordinator phone of this community: its commands first (TODAY, SAY...);
    any other text goes on to the volunteer conversation."""
    commanded = answer_coordinator_command(
        session,
        community,
        channel,
        message,
        inbound.sender,
        inbound.body,
        now,
        send_replies=send_replies,
    )
    if commanded is not None:
        return InboundResult(commanded, message.id, False, queued_due_work(session))
    return _process(
        session,
        channel,
        community,
        has_donations,
        message,
        inbound,
        now,
        send_replies=send_replies,
        surging=surging,
    )


def stored_inbound(message: Message, kind: ChannelKind, to: str) -> InboundMessage:
    """The ``InboundMessage`` a stored text was made from (what a worker needs to step it),
    given its channel's kind and address."""
    location = Location(**message.location) if message.location else None
    return InboundMessage(
        sid=message.twilio_sid or "",
        kind=kind,
        sender=message.from_address.removeprefix("whatsapp:"),
        to=to,
        body=message.body,
        num_media=message.num_media,
        media=tuple(MediaRef(m["sid"], m["content_type"]) for m in message.media or ()),
        location=location,
        payload=message.payload,
    )


def _store_unmatched(
    session: Session,
    row: dict[str, object],
    kind: SenderKind,
    now: datetime,
    locked_sender: str | None,
) -> InboundResult:
    """A short code's or an alphanumeric sender's text: kept for coordinators (the inbox),
    never answered and never a volunteer (no one can text such a sender back)."""
    row = {**row, "status": MessageStatus.PROCESSED, "attention": UNMATCHED, "processed_at": now}
    message = _insert(session, row, locked_sender)
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


# The sender's lock: a PostgreSQL transaction lock (an advisory lock on the community and the
# sender's number), held until the commit, with its values bound per text and built once
# (building the expression for every text cost an eighth of a web process's CPU under surge:
# SQLAlchemy's argument coercion).
#
# Taken before the text is inserted, it makes a sender's texts get their ids, and run their
# steps, in one order: two texts of one volunteer in flight together are otherwise stored in
# one order and stepped in the other (each inserts, then waits for the volunteer's row). A
# worker takes it before the message row and the volunteer's row, as the webhook does. It is
# part of the statement that follows it, not one of its own: the webhook's insert
# (``_insert``, ``_insert_answered``), the worker's claim of a deferred text
# (``_CLAIM_LOCKED``), the intake's batch (``service.conversations.intake``, tried there, not
# waited for). SQLite needs none (``takes_sender_locks``): its write lock, taken first,
# serialises every text.
def _sender_lock(community: str = "community_id", sender: str = "sender") -> Any:
    """``pg_advisory_xact_lock`` of a sender, with its parameters' names."""
    return func.pg_advisory_xact_lock(
        bindparam(community, type_=Integer()), func.hashtext(bindparam(sender, type_=String()))
    )


SENDER_LOCK_COLUMN = _sender_lock()
TAKE_SENDER_LOCK = select(SENDER_LOCK_COLUMN)  # on its own (the tests hold it with this)


def takes_sender_locks(session: Session) -> bool:
    """Whether texts take their sender's lock on this database: PostgreSQL (SQLite's write
    lock, taken first, serialises every text)."""
    return session.get_bind().dialect.name == "postgresql"


def inbound_row(channel: Channel, inbound: InboundMessage, now: datetime) -> dict[str, object]:
    """The columns of the ``messages`` row that stores ``inbound``, texted to ``channel``."""
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
        "not_before": now,  # never dispatched: set so that no column is computed on insert
        "created_at": now,
        "updated_at": now,
    }


def _insert(session: Session, row: dict[str, object], sender: str | None = None) -> Message | None:
    """The new inbound message, or None when its MessageSid is stored already; with
    ``sender``, the insert takes that sender's lock first (``SENDER_LOCK_COLUMN``), in the
    same round trip.

    A Core ``INSERT`` of every column, returning only the new id; the ``Message`` is then
    built from the same values and added to the session as if just loaded (its later changes
    flush as one UPDATE). ``INSERT ... RETURNING`` an ORM entity cost an eighth of a
    synchronous step's CPU (issue 18): the ORM's bulk insert and a 40-column result row.
    """
    values = {**_unset_columns(frozenset(row)), **row}
    if sender is None:
        statement = insert_id_unless_present(
            session.get_bind().dialect.name, MESSAGES, "twilio_sid"
        )
        found = session.execute(statement, values)
    else:
        found = session.execute(_INSERT_LOCKED, {**values, "sender": sender})
    message_id = found.scalar_one_or_none()
    if message_id is None:
        return None
    return _as_loaded(session, {**values, "id": message_id})


def _as_loaded(session: Session, values: dict[str, Any]) -> Message:
    """The ``Message`` of a row as stored (``values``: every column), added to the session as
    if just loaded: persistent, with no attribute to load, its later changes flushed as one
    UPDATE. Its columns are written into the instance's dict as the ORM's loader writes them,
    not set one by one through the mapped constructor, whose attribute events cost a twentieth
    of a repeat text's CPU (issue 18)."""
    message: Message = _MESSAGE_MANAGER.new_instance()
    message.__dict__.update(values)
    make_transient_to_detached(message)
    session.add(message)
    return message


_MESSAGE_MANAGER = manager_of_class(Message)


def _insert_answered(
    session: Session, row: dict[str, object], phone: str, now: datetime, sender: str | None
) -> Message | None:
    """``_insert`` for a text the request goes on to answer: stored as it will be committed
    once answered (``processed`` now, from the volunteer whose phone sent it, read by the
    insert itself), so the answer's commit has no UPDATE of it to send (one round trip less
    a text, issue 18). A step that fails rolls the row back with it (``_keep_unprocessed``
    stores the text alone); a text that waits puts ``_WAITING`` back before it commits."""
    values = {
        **_unset_columns(frozenset(row) | {"volunteer_id"}),
        **row,
        "status": MessageStatus.PROCESSED,
        "processed_at": now,
    }
    if sender is None:
        found = session.execute(_INSERT_ANSWERED, {**values, "phone": phone}).one_or_none()
    else:
        parameters = {**values, "phone": phone, "sender": sender}
        found = session.execute(_INSERT_ANSWERED_LOCKED, parameters).one_or_none()
    if found is None:
        return None
    return _as_loaded(session, {**values, "id": found.id, "volunteer_id": found.volunteer_id})


_MESSAGE_COLUMNS = [column for column in MESSAGES.columns if not column.primary_key]
CHANNELS = cast(Table, Channel.__table__)


# The volunteer whose phone sent a text, as the inbound insert reads it (NULL for a stranger,
# or one who joins in this very step: the step's own volunteer_id then goes with the commit).
def _sender_volunteer(community: str = "community_id") -> Any:
    """The id of the volunteer whose phone is the ``phone`` parameter, as a scalar subquery."""
    return (
        select(Volunteer.id)
        .where(
            Volunteer.community_id == bindparam(community, type_=Integer()),
            Volunteer.phone == bindparam("phone", type_=String()),
        )
        .scalar_subquery()
    )


_SENDER_VOLUNTEER = _sender_volunteer()
# What a text that waits puts back before it commits: as the intake stores a deferred text.
_WAITING = {"status": MessageStatus.RECEIVED, "processed_at": None, "volunteer_id": None}


def _answered_columns() -> list[Any]:
    return [
        _SENDER_VOLUNTEER if c.key == "volunteer_id" else bindparam(c.key, type_=c.type)
        for c in _MESSAGE_COLUMNS
    ]


# PostgreSQL's inbound insert with the sender's lock taken first: a CTE the row is selected
# from, so the lock is held before the insert meets a twin MessageSid (and waits for it).
_SENDER_LOCKED = select(SENDER_LOCK_COLUMN.label("taken")).cte("sender_lock")


def _insert_inbound(dialect: str, row: Select[Any], *returned: Any) -> ReturningInsert[Any]:
    """The inbound insert of ``row`` (one value a column of ``_MESSAGE_COLUMNS``), skipped when
    its MessageSid is stored already, returning ``returned``."""
    return (
        insert_unless_present(dialect, MESSAGES, "twilio_sid")
        .from_select(_MESSAGE_COLUMNS, row)
        .returning(*returned)
    )


_INSERT_LOCKED = _insert_inbound(
    "postgresql",
    select(*(bindparam(c.key, type_=c.type) for c in _MESSAGE_COLUMNS)).select_from(_SENDER_LOCKED),
    MESSAGES.c.id,
)


# A worker's claim of a deferred text (``answer_stored``): marked answered while still
# ``received``, returned with its channel's kind and address. On PostgreSQL the sender's lock
# is a one-row CTE the row is joined to (on the text's id), read before the UPDATE locks it.
_CHANNEL_OF_TEXT = CHANNELS.c.id == MESSAGES.c.channel_id
_CLAIM = (
    update(MESSAGES)
    .where(
        MESSAGES.c.id == bindparam("message_id", type_=Integer()),
        MESSAGES.c.status == MessageStatus.RECEIVED,
    )
    .values(
        status=MessageStatus.PROCESSED,
        processed_at=bindparam("now", type_=MESSAGES.c.processed_at.type),
        volunteer_id=_sender_volunteer("of_community"),  # column names are the SET's
    )
    .returning(
        *MESSAGES.columns,
        select(CHANNELS.c.kind).where(_CHANNEL_OF_TEXT).scalar_subquery().label("channel_kind"),
        select(CHANNELS.c.address)
        .where(_CHANNEL_OF_TEXT)
        .scalar_subquery()
        .label("channel_address"),
    )
)
_CLAIM_SENDER_LOCK = select(
    _sender_lock("of_community", "phone").label("taken"),
    bindparam("message_id", type_=Integer()).label("message_id"),  # the text the lock is for
).cte("sender_lock")
_CLAIM_LOCKED = _CLAIM.where(MESSAGES.c.id == _CLAIM_SENDER_LOCK.c.message_id)
_INSERT_ANSWERED_LOCKED = _insert_inbound(
    "postgresql",
    select(*_answered_columns()).select_from(_SENDER_LOCKED),
    MESSAGES.c.id,
    MESSAGES.c.volunteer_id,
)
# Without the sender's lock (SQLite: its write lock, taken first, serialises every text).
_INSERT_ANSWERED = _insert_inbound(
    "sqlite",
    # the WHERE tells SQLite's parser that ON CONFLICT is the upsert's, not a join's
    select(*_answered_columns()).where(true()),
    MESSAGES.c.id,
    MESSAGES.c.volunteer_id,
)


@functools.cache
def _unset_columns(given: frozenset[str]) -> dict[str, object]:
    """What the ``messages`` columns not among ``given`` would be set to on insert (their
    scalar defaults, else NULL): sent with the row, so the instance built from it holds every
    column as stored. A column with a computed default must be given."""
    unset: dict[str, object] = {}
    for column in MESSAGES.columns:
        if column.primary_key or column.key in given:
            continue
        default = column.default
        if default is not None and not default.is_scalar:
            raise ValueError(f"messages.{column.key} has a computed default: set it in the row")
        unset[column.key] = None if default is None else default.arg  # type: ignore[attr-defined]
    return unset


def _keep_unprocessed(session: Session, row: dict[str, object]) -> None:
    """After a failed step: store the text alone (``received``) so a retry can process it.

    The rolled-back step's instances are dropped first: the text's own ``Message`` is still
    in the session's identity map, and on SQLite the new row may get the same id back."""
    session.expunge_all()
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
    *,
    send_replies: bool = False,
    surging: Callable[[], bool] | None = None,
) -> InboundResult:
    """Run one flow step under the volunteer's row lock and commit it with the message.

    The text waits (stays ``received``, committed as it is) when an earlier text of the same
    sender is still waiting, unless it opts out. ``send_replies``: queue the replies through
    the send gate (a worker's deferred text) instead of storing them as the TwiML answer.

    ``surging``: in a web request, whether its process is in surge now. A text whose request
    began before the surge waits for a worker too, unless it opts out: its step would take
    the rows every answer to the same call-out or shift takes (``bench.surge``: the steps in
    flight when a surge began queued on the call-out's row one at a time, each holder slowed
    by the acknowledgements around it, for up to 3 s), while the acknowledgements queue
    behind them. Taken here, after the sender's and the volunteer's locks and before the
    step's own, it keeps the sender's order as the wait behind an earlier text does.
    """
    volunteer, behind = _lock_volunteer(
        session, community, inbound.sender, message.id, now, in_request=not send_replies
    )
    if (behind or (surging is not None and surging())) and not opts_out(inbound):
        for name, value in _WAITING.items():
            setattr(message, name, value)  # stored as answered (``_insert_answered``): not yet
        session.commit()
        why = "waits behind an earlier text of its sender" if behind else "left for a worker"
        log.info("inbound %s %s", inbound.sid, why)
        return InboundResult((), message.id, duplicate=False, deferred=True)
    state = load_session_state(volunteer)  # loaded with the volunteer's row
    # attributes are set only when they change (``set_changed``): a repeat answer then
    # commits with no flush
    if channel.kind != ChannelKind.SIMULATOR or volunteer.preferred_channel_id is None:
        set_changed(volunteer, preferred_channel_id=channel.id)
    if channel.kind == ChannelKind.WHATSAPP:
        volunteer.whatsapp_inbound_at = message.created_at  # opens WhatsApp's 24-hour window
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
    # The flow's lookups read shifts, places and pledges, which nothing in this step has
    # changed yet: the volunteer's changes above wait for the step's one flush (an autoflush
    # at the first lookup was a second pass of the unit of work over the same rows).
    with session.no_autoflush:
        outcome = conversation.step(context, state, inbound.flow_text)
    if _stale_opt_in(volunteer, message, outcome.effects):
        # A text received before the volunteer's opt-out (a retry processed late, a replay)
        # never re-subscribes them: only a text sent after the STOP may.
        outcome = Outcome(state)
        log.warning("inbound %s: opt-in older than the opt-out ignored", inbound.sid)
    results = apply_effects(session, volunteer, community, outcome.effects, now)
    texts = outcome.render(context, results)
    # A menu shown as a WhatsApp list goes through the send gate (TwiML cannot carry it).
    texts = interactive.answer_with_menu(
        session, channel, message, volunteer.id, outcome.menu, texts, now
    )
    save_session_state(session, volunteer, outcome.session)
    if (
        channel.kind == ChannelKind.SMS
        and volunteer.consent_at is not None
        and volunteer.sms_consent_at is None
    ):
        volunteer.sms_consent_at = now  # consented and texting by SMS: SMS may reach them
    # The TwiML answer reaches an erased sender with no address kept; a worker's answer to the
    # text that erased them needs it until it is sent (a FAREWELL).
    farewell = send_replies and any(isinstance(effect, Forget) for effect in outcome.effects)
    if farewell:
        to_address: str | None = _address(channel.kind, inbound.sender)
    else:
        to_address = privacy.ERASED if volunteer.erased_at else None
    store_replies(
        session,
        channel,
        message,
        texts,
        now,
        volunteer_id=volunteer.id,
        to_address=to_address,
        pending=send_replies,
        kind=MessageKind.FAREWELL if farewell else MessageKind.REPLY,
    )
    set_changed(  # stored as answered already, most often (``_insert_answered``)
        message,
        volunteer_id=volunteer.id,
        attention=next(
            (ATTENTION_BY_REPLY[r.key] for r in outcome.replies if r.key in ATTENTION_BY_REPLY),
            None,
        ),
        status=MessageStatus.PROCESSED,
        processed_at=now,
    )
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


def _lock_volunteer(
    session: Session,
    community: Community,
    phone: str,
    message_id: int,
    now: datetime,
    *,
    in_request: bool = True,
) -> tuple[Volunteer, bool]:
    """The volunteer row for ``phone``, locked for this transaction (created when new), and
    whether this text must wait: an earlier text of the same sender is still waiting
    (``received``), or, for an answer ``in_request``, a worker's reply or farewell to them is
    not sent yet (the TwiML answer would reach them before it). A worker's own replies queue
    behind the earlier ones and go in order.

    The waiting check is a column of the locking statement, evaluated after the lock wait, so
    it sees a text another transaction deferred while holding the lock. The conversation row
    is joined into the same statement. A joined row comes from the statement's snapshot, not
    re-read after a wait for the volunteer's row, but only a step writes conversation rows
    (``save_session_state``), and every step holds its sender's lock from before this
    statement until its commit (on PostgreSQL the inbound insert, or the worker's read of a
    deferred text, takes it; on SQLite the write lock serialises every text): the snapshot,
    taken after that lock, already sees the last step's conversation.
    (``tests/service/test_concurrency.py`` races two texts of one volunteer for it.)
    """
    params = waiting_parameters(community.id, phone, message_id)
    query = LOCK_VOLUNTEER_IN_REQUEST if in_request else LOCK_VOLUNTEER
    found = session.execute(query, params).one_or_none()
    if found is not None:
        return found[0], bool(found[1])
    try:
        with session.begin_nested():
            volunteer = Volunteer(
                community_id=community.id,
                phone=phone,
                status=VolunteerStatus.NEW,
                language=community.default_language,  # until the first text tells otherwise
                created_at=now,
                session=None,  # no conversation yet: known, not loaded later
            )
            session.add(volunteer)
    except IntegrityError:  # created concurrently by another message from the same number
        found = session.execute(query, params).one()
        return found[0], bool(found[1])
    # A new volunteer's first text may have been deferred before the row existed, and an
    # erased one's farewell may be unsent.
    behind = NEW_SENDER_BEHIND_IN_REQUEST if in_request else WAITING_BEFORE
    return volunteer, bool(session.scalar(select(behind), params))


# The statements below are built once, with their values bound per text
# (``waiting_parameters``): building them for every text cost a twentieth of a step.
_COMMUNITY = bindparam("community_id", type_=Integer())
_PHONE = bindparam("phone", type_=String())
_WHATSAPP_PHONE = bindparam("whatsapp_phone", type_=String())  # the phone as WhatsApp's sender

# EXISTS: a text of the phone to this community stored before the message and not yet
# processed (deferred, or left by a failed step). Served by ``ix_messages_waiting``.
WAITING_BEFORE = (
    select(Message.id)
    .where(
        is_waiting(),
        Message.community_id == _COMMUNITY,
        Message.from_address.in_((_PHONE, _WHATSAPP_PHONE)),
        Message.id < bindparam("message_id", type_=Integer()),
    )
    .exists()
)

# EXISTS (correlated to the volunteer's row): a worker's reply to them not yet handed to Twilio.
UNSENT_REPLY_EXISTS = (
    select(Message.id)
    .where(
        Message.volunteer_id == Volunteer.id,
        Message.kind == MessageKind.REPLY,
        Message.status.in_((MessageStatus.PENDING, MessageStatus.SENDING)),
    )
    .exists()
)


# EXISTS: a FAREWELL to the phone not yet handed to Twilio. The erasure renamed the volunteer's
# row, so a text from the number after it (a JOIN) finds another row, or none: the farewell is
# found by its address. Served by ``ix_messages_farewell_unsent``.
FAREWELL_UNSENT = (
    select(Message.id)
    .where(
        is_unsent_farewell(),
        Message.community_id == _COMMUNITY,
        Message.to_address.in_((_PHONE, _WHATSAPP_PHONE)),
    )
    .exists()
)
# In the request, a text also waits behind what a worker has still to send them.
BEHIND_IN_REQUEST = or_(WAITING_BEFORE, UNSENT_REPLY_EXISTS, FAREWELL_UNSENT)
# ... and a new sender's (no row, no unsent reply): an erased number's farewell may be unsent.
NEW_SENDER_BEHIND_IN_REQUEST = or_(WAITING_BEFORE, FAREWELL_UNSENT)


def _lock_volunteer_statement(behind: ColumnElement[bool]) -> Select[Volunteer, bool]:
    return (
        select(Volunteer, behind)
        .where(Volunteer.community_id == _COMMUNITY, Volunteer.phone == _PHONE)
        .options(joinedload(Volunteer.session))
        .with_for_update(of=Volunteer)
        .execution_options(populate_existing=True)
    )


LOCK_VOLUNTEER = _lock_volunteer_statement(WAITING_BEFORE)
LOCK_VOLUNTEER_IN_REQUEST = _lock_volunteer_statement(BEHIND_IN_REQUEST)


def waiting_parameters(community_id: int, phone: str, message_id: int) -> dict[str, object]:
    """The values of ``WAITING_BEFORE`` (and of the volunteer's locking statements)."""
    return {
        "community_id": community_id,
        "phone": phone,
        "whatsapp_phone": f"whatsapp:{phone}",
        "message_id": message_id,
    }


def _stored_replies(session: Session, message: Message) -> tuple[str, ...]:
    return tuple(
        session.scalars(
            select(Message.body)
            .where(
                Message.reply_to_id == message.id,
                Message.kind == MessageKind.REPLY,
                Message.status == MessageStatus.REPLIED,  # not a menu sent by the send gate
            )
            .order_by(Message.id)
        ).all()
    )


def _address(kind: ChannelKind, e164: str) -> str:
    return f"whatsapp:{e164}" if kind == ChannelKind.WHATSAPP else e164
