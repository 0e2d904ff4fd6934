"""A text from a coordinator's registered phone: run it as a coordinator command first.

``answer_coordinator_command`` is the inbound pipeline's one hook: None when the sender is not
a verified coordinator phone of the community or the text is not a command (the volunteer
conversation takes it). Otherwise it runs one step of ``flows.coordinators``, applies its
effects, stores the replies, audits the command with the account, and commits.

CALLOUT and SAY never send at once: they answer how many people they reach and the cost, and
text a one-time code to the REGISTERED phone as its own outbound message (the webhook's answer
goes to whoever posted the webhook, so a spoofed ``From`` never sees it). ``YES code`` within
ten minutes sends through the console's own functions (``start_callout``, ``send_broadcast``:
the ask limits and the two-person rule apply as there); codes are single-use, and wrong ones
are counted (five in fifteen minutes lock the coordinator's confirmations). Read commands are
limited per coordinator. The limits count this community's audit rows, in the transaction that
holds the coordinator phone's row lock: exact, shared by every process, and an inbound text
never depends on Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flows import catalog, coordinators
from flows.coordinators import (
    ConfirmCode,
    Gap,
    PersonLine,
    PrepareCallout,
    PrepareSay,
    SendResult,
    ShiftFill,
)
from flows.engine import Context, Effect, VolunteerStatus
from flows.sms import segment_info
from service.communities import audit
from service.conversations.replies import store_replies
from service.coordinators import codes
from service.coordinators.phones import commander
from service.db import take_sqlite_write_lock
from service.models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    CallOut,
    CallOutAsk,
    Channel,
    CommandRequest,
    Community,
    Coordinator,
    CoordinatorPhone,
    Message,
    MessageStatus,
    RequestKind,
    RequestStatus,
    Role,
    Shift,
    ShiftStatus,
    Volunteer,
)
from service.models.rosters import PLACE_HOLDING
from service.rosters import callouts, donations
from service.rosters.shifts import RosterError, facts, local_time
from service.sending.broadcasts import (
    ApprovalError,
    BroadcastError,
    BroadcastStatus,
    Segment,
    approve_broadcast,
    check_approver,
    estimated_cost,
    preview_broadcast,
    send_broadcast,
)

log = logging.getLogger(__name__)

CODE_LIFETIME = timedelta(minutes=10)
WINDOW = timedelta(minutes=15)
READ_LIMIT = 30  # read commands per coordinator in WINDOW
WRONG_CODE_LIMIT = 5  # wrong codes per coordinator in WINDOW
COMMAND_ACTION = "texted command"
WRONG_CODE_ACTION = "texted wrong code"


@dataclass(frozen=True)
class Commander:
    phone: CoordinatorPhone
    coordinator: Coordinator
    role: Role


def answer_coordinator_command(
    session: Session,
    community: Community,
    channel: Channel,
    message: Message,
    sender: str,
    body: str,
    now: datetime,
    *,
    send_replies: bool = False,
) -> tuple[str, ...] | None:
    """Run ``body`` as a coordinator command if ``sender`` is a verified coordinator phone of
    ``community`` and the text is one; store the replies and commit. None: not taken.
    ``send_replies``: queue them through the send gate (a deferred text), not for TwiML."""
    parsed = coordinators.parse_command(body)
    if parsed is None:
        return None
    found = commander(session, community, sender)
    if found is None:
        return None
    who = Commander(*found)
    lookup = CoordinatorRosterLookup(session, community, who.role, now)
    # One command at a time per coordinator: the limits below count under this lock.
    session.scalar(
        select(CoordinatorPhone.id).where(CoordinatorPhone.id == who.phone.id).with_for_update()
    )
    context = Context(
        status=VolunteerStatus.ACTIVE,
        name=None,
        language=community.default_language,
        community_name=community.name,
        channel=channel.kind.value,
        now=now,
        help_contact=community.help_contact,
        zone=community.timezone,
        country=community.country,
        clock=community.clock or "",
        lookup=lookup,
    )
    wait = _wait(session, community, who, COMMAND_ACTION, READ_LIMIT, now)
    if parsed.command.reads and wait is not None:
        texts: tuple[str, ...] = (
            catalog.render(context.language, "coord.slow_down", {"count": wait}),
        )
        outcome_name = "rate limited"
    else:
        outcome = coordinators.step(context, body)
        if outcome is None:
            return None
        results = [
            _apply(session, community, who, effect, context, message, now)
            for effect in outcome.effects
        ]
        texts = outcome.render(context, results)
        outcome_name = results[0].outcome if results else "answered"
        if lookup.revealed:
            # Full numbers go to the registered phone only: the webhook's answer goes to
            # whoever posted it, and a spoofed From must not learn volunteers' numbers.
            for index, text in enumerate(texts):
                key = f"who:{message.id}:{index}"
                codes.send_to_phone(session, community, who.phone.phone, text, key, now)
            texts = (catalog.render(context.language, "coord.who_sent", {"n": parsed.n}),)
            outcome_name = "numbers texted to the registered phone"
    audit.record(
        session,
        community_id=community.id,
        actor=who.coordinator,
        action=COMMAND_ACTION,
        subject=f"message:{message.id}",
        now=now,
        command=parsed.command.value,
        outcome=outcome_name,
        channel=channel.kind.value,
    )
    store_replies(session, channel, message, texts, now, pending=send_replies)
    message.volunteer_id = None  # a coordinator's command, not their volunteer conversation
    message.status = MessageStatus.PROCESSED
    message.processed_at = now
    session.commit()
    log.info("inbound %s: coordinator command %s", message.twilio_sid, parsed.command.value)
    return texts


def _wait(
    session: Session,
    community: Community,
    who: Commander,
    action: str,
    limit: int,
    now: datetime,
) -> int | None:
    """Minutes to wait when ``limit`` rows of ``action`` are in the window, else None."""
    rows = session.execute(
        select(func.count(), func.min(AuditEvent.created_at)).where(
            AuditEvent.community_id == community.id,
            AuditEvent.coordinator_id == who.coordinator.id,
            AuditEvent.action == action,
            AuditEvent.created_at > now - WINDOW,
        )
    ).one()
    count, oldest = int(rows[0] or 0), rows[1]
    if count < limit or oldest is None:
        return None
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
    return max(1, int((oldest + WINDOW - now).total_seconds() // 60) + 1)


# ----- effects ----------------------------------------------------------------------------


def _apply(
    session: Session,
    community: Community,
    who: Commander,
    effect: Effect,
    context: Context,
    message: Message,
    now: datetime,
) -> SendResult:
    match effect:
        case PrepareCallout(shift_id=shift_id, need=need, text=text):
            return _prepare_callout(session, community, who, shift_id, need, text, now)
        case PrepareSay(text=text):
            return _prepare_say(session, community, who, text, now)
        case ConfirmCode(code=code):
            return _confirm(session, community, who, code, now)
    raise TypeError(f"unknown coordinator effect {effect!r}")


def _prepare_callout(
    session: Session,
    community: Community,
    who: Commander,
    shift_id: int,
    need: int,
    text: str,
    now: datetime,
) -> SendResult:
    shift = session.get_one(Shift, shift_id)
    shift_facts = facts(shift, community, community.default_language, now)
    preview = CallOut(id=None, need=need, filled=0, text=text)
    people = callouts.candidates(
        session, preview, shift, community, now, need * callouts.WAVE_FACTOR
    )
    if not people:
        return SendResult("nobody")
    ask = catalog.render(
        community.default_language,
        "callout.ask",
        {"community": community.name, "need": need, "text": text, **shift_facts.params()},
    )
    cost = estimated_cost(segment_info(" ".join(ask.split())).segments * len(people))
    payload = {"shift_id": shift.id, "need": need, "text": text}
    _new_request(session, community, who, RequestKind.CALLOUT, payload, len(people), now)
    return SendResult(
        "confirm_callout",
        count=len(people),
        cost=f"{cost:.2f}",
        title=shift_facts.title,
        when=shift_facts.when,
    )


def _prepare_say(
    session: Session, community: Community, who: Commander, text: str, now: datetime
) -> SendResult:
    preview = preview_broadcast(session, community, text, Segment())
    if preview.recipients == 0:
        return SendResult("nobody")
    payload: dict[str, object] = {"text": text}
    _new_request(session, community, who, RequestKind.SAY, payload, preview.recipients, now)
    return SendResult("confirm_say", count=preview.recipients, cost=f"{preview.estimated_cost:.2f}")


def _new_request(
    session: Session,
    community: Community,
    who: Commander,
    kind: RequestKind,
    payload: dict[str, object],
    recipients: int,
    now: datetime,
) -> CommandRequest:
    """Record the request (an earlier pending one of this coordinator lapses) and text its
    code to the registered phone."""
    for earlier in session.scalars(
        select(CommandRequest).where(
            CommandRequest.coordinator_id == who.coordinator.id,
            CommandRequest.community_id == community.id,
            CommandRequest.status == RequestStatus.PENDING,
        )
    ):
        earlier.status = RequestStatus.EXPIRED
    request = CommandRequest(
        community_id=community.id,
        coordinator_id=who.coordinator.id,
        kind=kind,
        status=RequestStatus.PENDING,
        payload=payload,
        recipients=recipients,
        code_hash="",
        expires_at=now + CODE_LIFETIME,
        created_at=now,
    )
    session.add(request)
    session.flush()
    code = codes.new_code()
    request.code_hash = codes.code_hash(f"request:{request.id}", code)
    body = catalog.render(
        community.default_language,
        "coord.code",
        {"community": community.name, "code": code, "count": recipients},
    )
    codes.send_to_phone(session, community, who.phone.phone, body, f"request:{request.id}", now)
    return request


def _confirm(
    session: Session, community: Community, who: Commander, code: str, now: datetime
) -> SendResult:
    wait = _wait(session, community, who, WRONG_CODE_ACTION, WRONG_CODE_LIMIT, now)
    if wait is not None:
        return SendResult("code_throttled", minutes=wait)
    take_sqlite_write_lock(session)
    open_requests = session.scalars(
        select(CommandRequest)
        .where(
            CommandRequest.community_id == community.id,
            CommandRequest.status.in_((RequestStatus.PENDING, RequestStatus.AWAITING_SECOND)),
            CommandRequest.expires_at > now,
        )
        .with_for_update()
        .order_by(CommandRequest.id)
    ).all()
    for request in open_requests:
        if not codes.matches(f"request:{request.id}", code, request.code_hash):
            continue
        if request.status == RequestStatus.PENDING and request.coordinator_id == who.coordinator.id:
            return _carry_out(session, community, who, request, now)
        if request.status == RequestStatus.AWAITING_SECOND:
            return _second_person(session, community, who, request, now)
    audit.record(
        session,
        community_id=community.id,
        actor=who.coordinator,
        action=WRONG_CODE_ACTION,
        subject=f"coordinator:{who.coordinator.id}",
        now=now,
    )
    return SendResult("code_wrong")


def _carry_out(
    session: Session, community: Community, who: Commander, request: CommandRequest, now: datetime
) -> SendResult:
    """The right code from the registered phone: send as the console would."""
    request.used_at = now
    request.code_hash = "used"
    if request.kind == RequestKind.CALLOUT:
        return _start_callout(session, community, who, request, now)
    text = str(request.payload["text"])
    try:
        sent = send_broadcast(
            session,
            community,
            text,
            Segment(),
            requested_by=who.coordinator.email,
            request_key=f"sms-request:{request.id}",
            now=now,
        )
    except BroadcastError:
        request.status = RequestStatus.EXPIRED
        return SendResult("nobody")
    broadcast = sent.broadcast
    request.broadcast_id = broadcast.id
    audit.record(
        session,
        community_id=community.id,
        actor=who.coordinator,
        action="broadcast",
        subject=f"broadcast:{broadcast.id}",
        now=now,
        status=broadcast.status,
        recipients=broadcast.recipients,
        segment=Segment().as_json(),
        by="sms",
    )
    if broadcast.status != BroadcastStatus.AWAITING_APPROVAL:
        request.status = RequestStatus.DONE
        return SendResult("sent_say", count=broadcast.recipients)
    request.status = RequestStatus.AWAITING_SECOND
    request.expires_at = now + CODE_LIFETIME
    _ask_second_people(session, community, who, request, broadcast.recipients, text, now)
    return SendResult("held", count=broadcast.recipients)


def _ask_second_people(
    session: Session,
    community: Community,
    who: Commander,
    request: CommandRequest,
    recipients: int,
    text: str,
    now: datetime,
) -> None:
    """Text a new approval code to every other coordinator's registered phone whose
    account may be the second person (the same rules as the console's approval)."""
    code = codes.new_code()
    request.code_hash = codes.code_hash(f"request:{request.id}", code)
    others = session.execute(
        select(CoordinatorPhone, Coordinator)
        .join(Coordinator, Coordinator.id == CoordinatorPhone.coordinator_id)
        .where(
            CoordinatorPhone.community_id == community.id,
            CoordinatorPhone.verified_at.is_not(None),
            CoordinatorPhone.coordinator_id != who.coordinator.id,
        )
        .order_by(CoordinatorPhone.id)
    ).all()
    body = catalog.render(
        community.default_language,
        "coord.approve_code",
        {"community": community.name, "count": recipients, "text": text[:120], "code": code},
    )
    for phone, coordinator in others:
        try:
            check_approver(session, who.coordinator.email, coordinator)
        except ApprovalError:
            continue
        found = commander(session, community, phone.phone)
        if found is None:  # a viewer now, or no longer a member
            continue
        codes.send_to_phone(
            session, community, phone.phone, body, f"approve:{request.id}:{phone.id}", now
        )


def _second_person(
    session: Session, community: Community, who: Commander, request: CommandRequest, now: datetime
) -> SendResult:
    if request.broadcast_id is None:
        return SendResult("code_wrong")
    try:
        broadcast = approve_broadcast(
            session, community, request.broadcast_id, approver=who.coordinator, now=now
        )
    except ApprovalError as exc:
        log.info("sms approval refused: %s", exc)
        audit.record(
            session,
            community_id=community.id,
            actor=who.coordinator,
            action="refused sms approval",
            subject=f"broadcast:{request.broadcast_id}",
            now=now,
            reason=str(exc),
        )
        return SendResult("not_second")
    request.status = RequestStatus.DONE
    request.used_at = now
    request.code_hash = "used"
    audit.record(
        session,
        community_id=community.id,
        actor=who.coordinator,
        action="approved broadcast",
        subject=f"broadcast:{broadcast.id}",
        now=now,
        requested_by=broadcast.created_by,
        recipients=broadcast.recipients,
        by="sms",
    )
    return SendResult("approved", count=broadcast.recipients)


def _start_callout(
    session: Session, community: Community, who: Commander, request: CommandRequest, now: datetime
) -> SendResult:
    payload = request.payload
    shift = session.get(Shift, int(payload["shift_id"]))
    need, text = int(payload["need"]), str(payload.get("text", ""))
    if shift is None or shift.community_id != community.id:
        request.status = RequestStatus.EXPIRED
        return SendResult("nobody")
    try:
        callout = callouts.start_callout(session, shift, community, need, text, now)
    except RosterError:
        request.status = RequestStatus.EXPIRED
        return SendResult("nobody")
    request.status = RequestStatus.DONE
    request.callout_id = callout.id
    asked = int(
        session.scalar(
            select(func.count()).select_from(CallOutAsk).where(CallOutAsk.callout_id == callout.id)
        )
        or 0
    )
    audit.record(
        session,
        community_id=community.id,
        actor=who.coordinator,
        action="call-out",
        subject=f"shift:{shift.id}",
        now=now,
        callout=callout.id,
        need=need,
        asked=asked,
        by="sms",
    )
    title = facts(shift, community, community.default_language, now).title
    return SendResult("sent_callout", count=asked, title=title)


# ----- what the read commands see ----------------------------------------------------------


class CoordinatorRosterLookup:
    """The ``flows.coordinators.CoordinatorLookup`` port over the database (lazy queries)."""

    def __init__(self, session: Session, community: Community, role: Role, now: datetime) -> None:
        self.session = session
        self.community = community
        self.role = role
        self.now = now
        self._shifts: list[ShiftFill] | None = None
        self.revealed = False  # a full number was read for a reply

    def day_shifts(self) -> Sequence[ShiftFill]:
        if self._shifts is not None:
            return self._shifts
        zone = ZoneInfo(self.community.timezone)
        today = local_time(self.community, self.now).date()
        start = datetime.combine(today, datetime.min.time(), zone)
        end = start + timedelta(days=2)
        waitlisted = (
            select(func.count())
            .select_from(Assignment)
            .where(
                Assignment.shift_id == Shift.id,
                Assignment.status == AssignmentStatus.WAITLISTED,
            )
            .scalar_subquery()
        )
        rows = self.session.execute(
            select(Shift, waitlisted)
            .where(
                Shift.community_id == self.community.id,
                Shift.status != ShiftStatus.CANCELLED,
                Shift.starts_at >= start,
                Shift.starts_at < end,
            )
            .order_by(Shift.starts_at, Shift.id)
            .limit(40)
        ).all()
        language = self.community.default_language
        self._shifts = [
            ShiftFill(
                id=shift.id,
                title=shift.title,
                when=facts(shift, self.community, language, self.now).when,
                confirmed=shift.confirmed_count,
                capacity=shift.capacity,
                waitlisted=int(count or 0),
            )
            for shift, count in rows
        ]
        return self._shifts

    def people_on(self, shift_id: int) -> Sequence[PersonLine]:
        rows = self.session.execute(
            select(Volunteer.name, Volunteer.phone)
            .join(Assignment, Assignment.volunteer_id == Volunteer.id)
            .where(
                Assignment.shift_id == shift_id,
                Assignment.status.in_(PLACE_HOLDING),
                Volunteer.erased_at.is_(None),
            )
            .order_by(Assignment.id)
            .limit(60)
        ).all()
        return [PersonLine(name or "", self._number(phone)) for name, phone in rows]

    def _number(self, phone: str) -> str:
        """Full numbers as the console shows them (coordinators and owners, unless the
        community protects numbers); otherwise the last four digits."""
        if self.role.allows(Role.COORDINATOR) and not self.community.protect_numbers:
            self.revealed = True
            return phone
        return "***" + phone[-4:]

    def next_gaps(self) -> tuple[str, Sequence[Gap]]:
        cycle = donations.next_cycle(self.session, self.community, self.now)
        if cycle is None:
            return "", ()
        language = self.community.default_language
        when = donations.cycle_when(cycle, self.community, language, self.now)
        gaps = [
            Gap(row.item, row.missing, row.target, row.unit)
            for row in donations.coverage(self.session, cycle)
        ]
        return when, gaps
