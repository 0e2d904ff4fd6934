"""Apply flow effects to the database, inside the caller's transaction (never commits).

An opt-out (``OptOut``, and ``Forget``) gives back the volunteer's upcoming places and pledges
(``service.volunteers.opt_out``). Imports ``flows`` and ``service`` modules.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Integer, Table, Update, bindparam, delete, insert, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from flows import catalog, donations, shifts
from flows.engine import (
    Effect,
    Forget,
    OptIn,
    OptOut,
    RecordConsent,
    Result,
    SessionState,
    SetLanguage,
    SetName,
    VolunteerStatus,
)
from service.db import set_changed, utcnow
from service.models import Community, ConversationSession, Volunteer
from service.rosters import callouts
from service.rosters import donations as donation_service
from service.rosters import shifts as rosters
from service.volunteers import privacy

# Re-exported: the delivery paths (status callback, dispatcher) record carrier opt-outs with it.
from service.volunteers.opt_out import opt_out as opt_out


def apply_effects(
    session: Session,
    volunteer: Volunteer,
    community: Community,
    effects: tuple[Effect, ...],
    now: datetime,
) -> list[Result]:
    """Apply each effect; return the results whose replies the volunteer must get.

    An answer to the pending question clears it before its service call, so that the
    volunteer's changes reach the database in one UPDATE: a service's first query may flush
    them (``callouts.answer``'s read does not), and a change left for after it would be a
    second UPDATE at the commit."""
    results: list[Result] = []
    for effect in effects:
        match effect:
            case shifts.ClaimShift(shift_id=shift_id):
                results.append(rosters.claim(session, volunteer, community, shift_id, now))
            case shifts.DropAssignment(assignment_id=assignment_id):
                set_changed(volunteer, pending_question=None)
                results.append(rosters.drop(session, volunteer, community, assignment_id, now))
            case shifts.ConfirmAssignment(assignment_id=assignment_id):
                set_changed(volunteer, pending_question=None)
                results.append(rosters.confirm(session, volunteer, community, assignment_id, now))
            case shifts.AnswerCallOut(callout_id=callout_id, yes=yes):
                set_changed(volunteer, pending_question=None)
                results.append(callouts.answer(session, volunteer, community, callout_id, yes, now))
            case shifts.CheckIn():
                results.append(rosters.check_in(session, volunteer, community, now))
            case shifts.CheckOut():
                results.append(rosters.check_out(session, volunteer, community, now))
            case donations.PledgeNeed(
                cycle_need_id=cycle_need_id, quantity=quantity, weekly=weekly
            ):
                set_changed(volunteer, pending_question=None)
                results.append(
                    donation_service.pledge(
                        session, volunteer, community, cycle_need_id, quantity, now, weekly=weekly
                    )
                )
            case donations.DropPledge(pledge_id=pledge_id):
                results.append(
                    donation_service.drop_pledge(session, volunteer, community, pledge_id, now)
                )
            case donations.MarkDone():
                results.append(donation_service.mark_done(session, volunteer, community, now))
            case donations.AnswerStanding(standing_id=standing_id, yes=yes):
                set_changed(volunteer, pending_question=None)
                results.append(
                    donation_service.answer_standing(
                        session, volunteer, community, standing_id, yes, now
                    )
                )
            case shifts.Pause(until=until):
                volunteer.status = VolunteerStatus.PAUSED
                volunteer.paused_until = until
            case shifts.Resume():
                volunteer.status = VolunteerStatus.ACTIVE
                volunteer.paused_until = None
            case OptOut(source=source):
                opt_out(volunteer, source, now)
            case OptIn(source=source):
                volunteer.status = VolunteerStatus.ACTIVE
                volunteer.opted_out_at = None
                volunteer.opt_out_source = None
                if volunteer.consent_at is None:
                    _record_consent(volunteer, f"{source}:START", "START keyword", now)
            case SetName(name=name):
                volunteer.name = name
            case SetLanguage(language=language):
                volunteer.language = language
            case RecordConsent(source=source, wording_key=key):
                wording = catalog.render(
                    volunteer.language,
                    key,
                    {"community": community.name, "name": volunteer.name or ""},
                )
                volunteer.status = VolunteerStatus.ACTIVE
                _record_consent(volunteer, source, wording, now)
                privacy.lift_suppression(session, community.id, volunteer.phone)
            case Forget():
                privacy.forget_volunteer(session, volunteer, now)
    return results


def _record_consent(volunteer: Volunteer, source: str, wording: str, now: datetime) -> None:
    volunteer.consent_at = now
    volunteer.consent_source = source
    volunteer.consent_wording = wording


# A conversation's expiry is moved later only once it would move by this much: a text that
# only renews the lifetime of an unchanged conversation (a second YES to a call-out, most of a
# storm) then writes nothing, and a conversation lasts from 23 to 24 hours after its last text
# instead of exactly 24 (``flows.engine.SESSION_LIFETIME``).
EXPIRY_STEP = timedelta(hours=1)


def save_session_state(session: Session, volunteer: Volunteer, state: SessionState) -> None:
    """Persist the flow position; an idle conversation has no row.

    Written at once with one Core statement (an INSERT, an UPDATE of what changed, or a
    DELETE; a lifetime renewed by less than ``EXPIRY_STEP`` alone is no change), not left to
    the unit of work at the commit: its bookkeeping for the row cost more of a step's CPU than
    the statement (issue 18). The row's object is then set to what was written, as if just
    loaded, so the commit's flush has nothing of it to send."""
    row = volunteer.session
    if state.flow is None or state.state is None:
        if row is not None:
            session.execute(_DELETE_CONVERSATION, {"of_volunteer": volunteer.id})
            session.expunge(row)
            set_committed_value(volunteer, "session", None)
        return
    values: dict[str, object] = {
        "flow": state.flow,
        "state": state.state,
        "data": dict(state.data),
        "expires_at": state.expires_at,
    }
    if row is None:
        values = {**values, "volunteer_id": volunteer.id, "updated_at": utcnow()}
        session.execute(insert(CONVERSATIONS), values)
        row = ConversationSession(**values)
        make_transient_to_detached(row)
        session.add(row)
        set_committed_value(volunteer, "session", row)
        return
    changed = {name: value for name, value in values.items() if getattr(row, name) != value}
    if changed.keys() == {"expires_at"} and renewed_within_step(row.expires_at, state.expires_at):
        return  # only a lifetime renewed by less than EXPIRY_STEP: not worth a write
    if not changed:
        return
    changed["updated_at"] = utcnow()
    statement = _update_conversation(frozenset(changed))
    session.execute(statement, {**changed, "of_volunteer": volunteer.id})
    for name, value in changed.items():
        set_committed_value(row, name, value)


def renewed_within_step(stored: datetime | None, renewed: datetime | None) -> bool:
    """Whether ``renewed`` moves the stored expiry later by less than ``EXPIRY_STEP``: for a
    conversation that is otherwise unchanged, no write (``save_session_state``)."""
    if stored is None or renewed is None:
        return False
    return stored <= renewed < stored + EXPIRY_STEP


CONVERSATIONS = cast(Table, ConversationSession.__table__)
_OF_VOLUNTEER = CONVERSATIONS.c.volunteer_id == bindparam("of_volunteer", type_=Integer())
_DELETE_CONVERSATION = delete(CONVERSATIONS).where(_OF_VOLUNTEER)


@functools.cache  # one per set of changed columns: built once, not for every text
def _update_conversation(columns: frozenset[str]) -> Update:
    return (
        update(CONVERSATIONS)
        .where(_OF_VOLUNTEER)
        .values({CONVERSATIONS.c[name]: bindparam(name) for name in sorted(columns)})
    )


def load_session_state(volunteer: Volunteer) -> SessionState:
    row = volunteer.session
    if row is None:
        return SessionState()
    return SessionState(row.flow, row.state, dict(row.data or {}), row.expires_at)
