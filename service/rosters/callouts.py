"""Urgent call-outs: ask qualified volunteers in waves (least recently asked first, within the
weekly ask limit), fill places first-come from YES replies, stop once full.

Functions run inside the caller's transaction and never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Integer, and_, bindparam, select, update
from sqlalchemy.orm import Session

from flows import catalog
from flows.shifts import CallOutOutcome, CallOutResult, ShiftQuestion, call_out_buttons
from service.conversations.questions import ask_question
from service.models import (
    Assignment,
    CallOut,
    CallOutAsk,
    CallOutStatus,
    Channel,
    Community,
    MessageKind,
    Shift,
    ShiftStatus,
    Volunteer,
)
from service.rosters.shifts import ACTIVE, RosterError, claim, facts
from service.sending import eligibility, outbox
from service.sending.queue import queue_message

WAVE_JOB = "workers.callouts.next_wave"
WAVE_FACTOR = 3  # ask three people per missing place in each wave
WAVE_INTERVAL = timedelta(minutes=10)
MAX_WAVES = 5
ANSWER_WINDOW = timedelta(hours=12)


def start_callout(
    session: Session, shift: Shift, community: Community, need: int, text: str, now: datetime
) -> CallOut:
    if not 1 <= need <= 500:
        raise RosterError("--need must be between 1 and 500")
    if shift.status in (ShiftStatus.CANCELLED, ShiftStatus.DONE) or shift.ends_at <= now:
        raise RosterError(f"shift {shift.id} is over or cancelled")
    # A call-out adds the places it asks for, so YES replies always fit.
    shift.capacity = max(shift.capacity, shift.confirmed_count + need)
    if shift.status == ShiftStatus.FULL:
        shift.status = ShiftStatus.OPEN
    callout = CallOut(
        community_id=community.id,
        shift_id=shift.id,
        need=need,
        text=text.strip()[:300],
        status=CallOutStatus.OPEN,
        filled=0,
        waves_sent=0,
    )
    session.add(callout)
    session.flush()
    send_wave(session, callout, now)
    return callout


def candidates(
    session: Session,
    callout: CallOut,
    shift: Shift,
    community: Community,
    now: datetime,
    limit: int,
) -> list[Volunteer]:
    """Qualified volunteers not on the shift and not asked in this call-out whom the send gate
    would let a call-out through to now (``service.sending.eligibility``); least recently
    asked first."""
    on_shift = select(Assignment.volunteer_id).where(
        Assignment.shift_id == shift.id, Assignment.status.in_(ACTIVE)
    )
    asked_here = select(CallOutAsk.volunteer_id).where(CallOutAsk.callout_id == callout.id)
    channels = session.scalars(select(Channel).where(Channel.community_id == community.id)).all()
    query = (
        select(Volunteer)
        .where(
            Volunteer.community_id == community.id,
            # available, reachable, under the weekly ask limit, and at night only those who
            # accept urgent texts: what the send gate will let through
            eligibility.recipients_clause(MessageKind.CALLOUT, community, channels, now),
            Volunteer.id.not_in(on_shift),
            Volunteer.id.not_in(asked_here),
        )
        .order_by(Volunteer.last_asked_at.is_not(None), Volunteer.last_asked_at, Volunteer.id)
    )
    chosen: list[Volunteer] = []
    for volunteer in session.scalars(query):
        if shift.skill and shift.skill not in (volunteer.skills or []):
            continue
        chosen.append(volunteer)
        if len(chosen) >= limit:
            break
    return chosen


def send_wave(session: Session, callout: CallOut, now: datetime) -> int:
    """Ask the next wave; schedule the one after unless the call-out is filled."""
    if callout.status != CallOutStatus.OPEN or callout.waves_sent >= MAX_WAVES:
        return 0
    shift = session.get_one(Shift, callout.shift_id)
    if shift.status in (ShiftStatus.CANCELLED, ShiftStatus.DONE) or shift.ends_at <= now:
        callout.status = CallOutStatus.CLOSED  # nothing left to ask for
        return 0
    community = session.get_one(Community, callout.community_id)
    missing = callout.need - callout.filled
    wave = callout.waves_sent + 1
    asked = 0
    for volunteer in candidates(session, callout, shift, community, now, missing * WAVE_FACTOR):
        session.add(
            CallOutAsk(callout_id=callout.id, volunteer_id=volunteer.id, wave=wave, asked_at=now)
        )
        body = catalog.render(
            volunteer.language,
            "callout.ask",
            {
                "community": community.name,
                "need": missing,
                "text": callout.text,
                **facts(shift, community, volunteer.language, now).params(),
            },
        )
        message = queue_message(
            session,
            volunteer=volunteer,
            body=" ".join(body.split()),
            kind=MessageKind.CALLOUT,
            idempotency_key=f"callout:{callout.id}:{volunteer.id}",
        )
        message.callout_id = callout.id
        if message.to_address.startswith("whatsapp:"):  # YES / NO buttons, if the gate may
            buttons = call_out_buttons(volunteer.language, message.body, callout.id)
            message.interactive = buttons.to_json() if buttons else None
        volunteer.last_asked_at = now
        ask_question(
            volunteer, ShiftQuestion.CALLOUT, callout.id, min(shift.ends_at, now + ANSWER_WINDOW)
        )
        asked += 1
    callout.waves_sent = wave
    if wave < MAX_WAVES:
        outbox.add(
            session,
            job=WAVE_JOB,
            payload={"callout_id": callout.id},
            dedupe_key=f"callout-wave:{callout.id}:{wave + 1}",
            available_at=now + WAVE_INTERVAL,
            queue="replies",
        )
    return asked


# The statements behind a YES, built once with their values bound per text: a call-out storm
# is mostly YES replies, and building them for every YES cost 9-13 % of a text's instructions
# (``bench.webhook_instructions``: SQLAlchemy's argument coercion and cache key).
_CALLOUT_ID = bindparam("callout_id", type_=Integer())
_VOLUNTEER_ID = bindparam("volunteer_id", type_=Integer())
_ANSWER_READ = (
    select(CallOut, Shift, CallOutAsk, Assignment.id)
    .join(Shift, Shift.id == CallOut.shift_id)
    .outerjoin(
        CallOutAsk,
        and_(CallOutAsk.callout_id == CallOut.id, CallOutAsk.volunteer_id == _VOLUNTEER_ID),
    )
    .outerjoin(
        Assignment,
        and_(
            Assignment.shift_id == Shift.id,
            Assignment.volunteer_id == _VOLUNTEER_ID,
            Assignment.status.in_(ACTIVE),
        ),
    )
    .where(
        CallOut.id == _CALLOUT_ID,
        CallOut.community_id == bindparam("community_id", type_=Integer()),
    )
    .limit(1)
    .execution_options(populate_existing=True)
)
_FILL = (
    update(CallOut)
    .where(
        CallOut.id == _CALLOUT_ID,
        CallOut.status == CallOutStatus.OPEN,
        CallOut.filled < CallOut.need,
    )
    .values(filled=CallOut.filled + 1)
    .returning(CallOut.filled, CallOut.need)
    .execution_options(synchronize_session=False)
)


def answer(
    session: Session,
    volunteer: Volunteer,
    community: Community,
    callout_id: int,
    yes: bool,
    now: datetime,
) -> CallOutResult:
    """A YES fills a place first-come up to the need; later YES replies are thanked.

    One query reads the call-out, its shift, this volunteer's ask and any place they already
    hold: in a call-out storm most texts are a second or third YES, and they cost one round
    trip (plus the ask's write when the answer is new). The read does not flush: it reads
    none of the rows the step has changed (the volunteer's), and those, with the ask, are
    written in the step's one flush, at its commit, or at the fill's claim."""
    with session.no_autoflush:  # the volunteer's changes wait for the step's one flush
        row = session.execute(
            _ANSWER_READ,
            {"callout_id": callout_id, "community_id": community.id, "volunteer_id": volunteer.id},
        ).first()
    if row is None:
        return CallOutResult("declined")
    callout, shift, ask, holding = row
    shift_facts = facts(shift, community, volunteer.language, now)

    def answered(outcome: CallOutOutcome, answer: str | None = None) -> CallOutResult:
        # set together, so the ask is written once, at the commit; a repeated answer keeps
        # the moment of the first one and writes nothing
        if ask is not None and (ask.answered_at is None or (answer and answer != ask.answer)):
            ask.answered_at = now
            ask.answer = answer or ask.answer
        return CallOutResult(outcome, shift_facts)

    if not yes:
        return answered("declined", "no")
    if holding is not None:
        return answered("already")
    if callout.status != CallOutStatus.OPEN or callout.filled >= callout.need:
        return answered("full", "late")  # as read in this transaction; the fill below decides
    took = session.execute(_FILL, {"callout_id": callout_id}).one_or_none()
    if took is None:
        return answered("full", "late")
    result = claim(
        session, volunteer, community, shift.id, now, source="callout", allow_waitlist=False
    )
    if result.outcome != "confirmed":  # regular sign-ups took the places: give this one back
        session.execute(
            update(CallOut)
            .where(CallOut.id == callout_id)
            .values(filled=CallOut.filled - 1)
            .execution_options(synchronize_session=False)
        )
        return answered("full", "late")
    if took.filled >= took.need:  # the row stays locked by the fill until the commit
        session.execute(
            update(CallOut)
            .where(CallOut.id == callout_id)
            .values(status=CallOutStatus.FILLED)
            .execution_options(synchronize_session=False)
        )
    return answered("confirmed", "yes")


def is_open(session: Session, callout_id: int) -> bool:
    callout = session.get(CallOut, callout_id)
    return callout is not None and callout.status == CallOutStatus.OPEN
