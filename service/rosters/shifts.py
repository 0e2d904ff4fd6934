"""Shift rosters: create shifts, claim places (capacity held by the database), drop and promote
the waitlist, check in and out, edit, cancel and move shifts, schedule reminders, mark no-shows.

Functions run inside the caller's transaction and never commit. Texts come from the catalogs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Case, ColumnElement, bindparam, case, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from flows import catalog
from flows.commitments import CommitmentView
from flows.donations import NeedView
from flows.shifts import (
    AttendanceResult,
    ClaimResult,
    ConfirmResult,
    DropResult,
    ShiftFacts,
    ShiftView,
    format_when,
)
from service.communities.dates import date_style
from service.db import set_changed
from service.models import (
    Assignment,
    AssignmentStatus,
    CallOut,
    CallOutStatus,
    Community,
    MessageKind,
    Roster,
    RosterKind,
    Shift,
    ShiftStatus,
    Volunteer,
)
from service.models.rosters import PLACE_HOLDING
from service.rosters import donations
from service.sending import outbox
from service.sending.queue import queue_message

REMINDER_JOB = "workers.reminders.send_reminder"
CHECK_IN_OPENS = timedelta(minutes=60)  # IN works from an hour before the start ...
CHECK_OUT_GRACE = timedelta(hours=3)  # ... and OUT until three hours after the end
NO_SHOW_AFTER = timedelta(minutes=30)  # after the end, confirmed but never in = no-show
ACTIVE = (AssignmentStatus.CONFIRMED, AssignmentStatus.WAITLISTED, AssignmentStatus.CHECKED_IN)


class RosterError(ValueError):
    """Bad input for a shift; the message says which field and why."""


# ----- reading -----------------------------------------------------------------------------
def local_time(community: Community, moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(community.timezone))


def facts(
    shift: Shift, community: Community, language: str, now: datetime | None = None
) -> ShiftFacts:
    return ShiftFacts(
        title=shift.title,
        when=format_when(
            local_time(community, shift.starts_at), date_style(community, language, now)
        ),
        place=shift.place,
    )


# The two reads behind SHIFTS and MY, the commonest texts, built once with their values bound
# per text (building them cost more than a tenth of a menu's step).
_OPEN_SHIFTS_FOR = (
    select(Shift)
    .where(
        Shift.community_id == bindparam("community_id"),
        Shift.status.in_((ShiftStatus.OPEN, ShiftStatus.FULL)),
        Shift.starts_at > bindparam("now"),
        Shift.id.not_in(
            select(Assignment.shift_id).where(
                Assignment.volunteer_id == bindparam("volunteer_id"),
                Assignment.status.in_(ACTIVE),
            )
        ),
    )
    .order_by(Shift.starts_at, Shift.id)
    .limit(50)
)
_COMMITMENTS_OF = (
    select(Assignment)
    .join(Shift, Shift.id == Assignment.shift_id)
    .where(
        Assignment.volunteer_id == bindparam("volunteer_id"),
        Assignment.status.in_(ACTIVE),
        Shift.ends_at > bindparam("now"),
        Shift.status != ShiftStatus.CANCELLED,
    )
    .order_by(Shift.starts_at, Assignment.id)
)


def open_shifts_for(
    session: Session, volunteer: Volunteer, community: Community, now: datetime
) -> list[Shift]:
    """Open (or full, for the waitlist) future shifts the volunteer qualifies for and is not
    already on, soonest first."""
    shifts = session.scalars(
        _OPEN_SHIFTS_FOR,
        {"community_id": community.id, "now": now, "volunteer_id": volunteer.id},
    ).all()
    skills = set(volunteer.skills or [])
    return [s for s in shifts if s.skill is None or s.skill.lower() in skills]


def commitments_of(session: Session, volunteer: Volunteer, now: datetime) -> list[Assignment]:
    """Upcoming (or in-progress) assignments, soonest first: the numbering of MY and DROP n."""
    return list(session.scalars(_COMMITMENTS_OF, {"volunteer_id": volunteer.id, "now": now}))


def waitlist_position(session: Session, assignment: Assignment) -> int:
    ahead = session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(
            Assignment.shift_id == assignment.shift_id,
            Assignment.status == AssignmentStatus.WAITLISTED,
            Assignment.queue_seq < assignment.queue_seq,
        )
    )
    return int(ahead or 0) + 1


@dataclass
class RosterLookup:
    """The flows' read-only port (flows.conversation.Lookup) over the database."""

    session: Session
    volunteer: Volunteer
    community: Community
    now: datetime

    def open_shifts(self) -> Sequence[ShiftView]:
        style = date_style(self.community, self.volunteer.language, self.now)
        return [
            ShiftView(
                id=s.id,
                title=s.title,
                place=s.place,
                when=format_when(local_time(self.community, s.starts_at), style),
                spots_left=max(s.capacity - s.confirmed_count, 0),
            )
            for s in open_shifts_for(self.session, self.volunteer, self.community, self.now)
        ]

    def commitments(self) -> Sequence[CommitmentView]:
        dated: list[tuple[datetime, int, CommitmentView]] = []
        for a in commitments_of(self.session, self.volunteer, self.now):
            f = facts(a.shift, self.community, self.volunteer.language, self.now)
            position = (
                waitlist_position(self.session, a)
                if a.status == AssignmentStatus.WAITLISTED
                else None
            )
            view = CommitmentView(a.id, f.title, f.place, f.when, a.status.value, position)
            dated.append((a.shift.starts_at, 0, view))
        for starts_at, item, pf in donations.pledge_commitments(
            self.session, self.volunteer, self.community, self.now
        ):
            title = " ".join(part for part in (str(item.quantity), pf.unit, pf.item) if part)
            view = CommitmentView(item.id, title, pf.place, pf.when, "pledged", kind="pledge")
            dated.append((starts_at, 1, view))
        return [view for _, _, view in sorted(dated, key=lambda row: (row[0], row[1]))]

    def open_needs(self) -> Sequence[NeedView]:
        return donations.open_needs(self.session, self.community, self.volunteer.language, self.now)


# ----- writing -----------------------------------------------------------------------------
def shifts_roster(session: Session, community: Community) -> Roster:
    roster = session.scalar(
        select(Roster)
        .where(Roster.community_id == community.id, Roster.kind == RosterKind.SHIFTS)
        .order_by(Roster.id)
    )
    if roster is None:
        roster = Roster(community_id=community.id, kind=RosterKind.SHIFTS, name="Shifts")
        session.add(roster)
        session.flush()
    return roster


def add_shift(
    session: Session,
    community: Community,
    *,
    title: str,
    place: str,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
    skill: str | None = None,
) -> Shift:
    title, place = title.strip(), place.strip()
    if not 1 <= len(title) <= 80:
        raise RosterError("--title must be 1 to 80 characters")
    if not 1 <= len(place) <= 120:
        raise RosterError("--place must be 1 to 120 characters")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise RosterError("--starts and --ends need a time zone or the community's")
    if ends_at <= starts_at:
        raise RosterError("--ends must be after --starts")
    if not 1 <= capacity <= 10_000:
        raise RosterError("--capacity must be between 1 and 10000")
    shift = Shift(
        roster_id=shifts_roster(session, community).id,
        community_id=community.id,
        title=title,
        place=place,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        confirmed_count=0,
        skill=(skill or "").strip().lower() or None,
        status=ShiftStatus.OPEN,
    )
    session.add(shift)
    session.flush()
    return shift


def _open_or_full(confirmed: ColumnElement[int] | InstrumentedAttribute[int]) -> Case[str]:
    """The status a shift has with ``confirmed`` places taken: full at capacity, else open."""
    return case((confirmed >= Shift.capacity, ShiftStatus.FULL.value), else_=ShiftStatus.OPEN.value)


def _take_place(session: Session, shift_id: int, *, count_claim: bool = False) -> Shift | None:
    """Atomically take one place if one is free (the row lock serialises racing claims),
    marking the shift full when it was the last. Returns the shift as it now is, else None.
    ``count_claim``: the same statement increments the shift's claim counter (``queue_seq``)."""
    counted = {"queue_seq": Shift.queue_seq + 1} if count_claim else {}
    return session.scalars(
        update(Shift)
        .where(
            Shift.id == shift_id,
            Shift.confirmed_count < Shift.capacity,
            Shift.status.in_((ShiftStatus.OPEN, ShiftStatus.FULL)),
        )
        .values(
            confirmed_count=Shift.confirmed_count + 1,
            status=_open_or_full(Shift.confirmed_count + 1),
            **counted,
        )
        .returning(Shift)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).one_or_none()


def _release_place(session: Session, shift_id: int) -> None:
    session.execute(
        update(Shift)
        .where(Shift.id == shift_id, Shift.confirmed_count > 0)
        .values(confirmed_count=Shift.confirmed_count - 1)
        .execution_options(synchronize_session=False)
    )


def _refresh_status(session: Session, shift_id: int) -> None:
    """Open or full by the count; the session's copy of the shift is refreshed from the row."""
    session.execute(
        update(Shift)
        .where(Shift.id == shift_id, Shift.status.in_((ShiftStatus.OPEN, ShiftStatus.FULL)))
        .values(status=_open_or_full(Shift.confirmed_count))
        .returning(Shift)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).all()


def claim(
    session: Session,
    volunteer: Volunteer,
    community: Community,
    shift_id: int,
    now: datetime,
    *,
    source: str = "sms",
    allow_waitlist: bool = True,
) -> ClaimResult:
    """Sign ``volunteer`` up: a confirmed place while capacity lasts, else the waitlist (or,
    with ``allow_waitlist=False``, nothing: the result is "closed")."""
    shift = session.get(Shift, shift_id)
    if (
        shift is None
        or shift.community_id != community.id
        or shift.status not in (ShiftStatus.OPEN, ShiftStatus.FULL)
        or shift.starts_at <= now
    ):
        return ClaimResult("closed")
    shift_facts = facts(shift, community, volunteer.language, now)
    assignment = session.scalar(
        select(Assignment).where(
            Assignment.shift_id == shift_id, Assignment.volunteer_id == volunteer.id
        )
    )
    if assignment is not None and assignment.status in ACTIVE:
        return ClaimResult("already", shift_facts)
    # One statement takes a free place and counts the claim (the shift's row lock, until
    # the commit, serialises racing claims); with no place free, the claim is counted alone.
    placed = _take_place(session, shift_id, count_claim=True)
    if placed is not None:
        seq = placed.queue_seq
    elif not allow_waitlist:
        return ClaimResult("closed", shift_facts)
    else:
        seq = _next_seq(session, shift_id)
    status = AssignmentStatus.CONFIRMED if placed is not None else AssignmentStatus.WAITLISTED
    if assignment is None:
        assignment = Assignment(shift_id=shift_id, volunteer_id=volunteer.id, status=status)
        session.add(assignment)
    assignment.status = status
    assignment.queue_seq = seq
    assignment.source = source
    assignment.created_at = now
    assignment.dropped_at = None
    assignment.confirmed_at = None
    session.flush()
    if placed is not None:
        schedule_reminders(session, assignment, placed, now)
        return ClaimResult("confirmed", shift_facts)
    return ClaimResult("waitlisted", shift_facts, waitlist_position(session, assignment))


def _next_seq(session: Session, shift_id: int) -> int:
    """Increment the shift's claim counter; the UPDATE also serialises claims on the shift."""
    seq = session.execute(
        update(Shift)
        .where(Shift.id == shift_id)
        .values(queue_seq=Shift.queue_seq + 1)
        .returning(Shift.queue_seq)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return int(seq)


def drop(
    session: Session,
    volunteer: Volunteer,
    community: Community,
    assignment_id: int,
    now: datetime,
) -> DropResult:
    assignment = session.get(Assignment, assignment_id)
    if (
        assignment is None
        or assignment.volunteer_id != volunteer.id
        or assignment.status not in ACTIVE
    ):
        return DropResult("not_found")
    held_place = assignment.status in PLACE_HOLDING
    assignment.status = AssignmentStatus.DROPPED
    assignment.dropped_at = now
    session.flush()
    if held_place:
        _release_place(session, assignment.shift_id)
        promote_waitlist(session, community, assignment.shift_id, now)
        _refresh_status(session, assignment.shift_id)
    return DropResult("dropped", facts(assignment.shift, community, volunteer.language, now))


def promote_waitlist(session: Session, community: Community, shift_id: int, now: datetime) -> None:
    """Give free places to the waitlist in order; each promoted volunteer is told by SMS."""
    shift = session.get_one(Shift, shift_id)
    if shift.starts_at <= now:
        return
    while True:
        first = session.scalar(
            select(Assignment)
            .where(
                Assignment.shift_id == shift_id, Assignment.status == AssignmentStatus.WAITLISTED
            )
            .order_by(Assignment.queue_seq, Assignment.id)
            .limit(1)
        )
        if first is None or _take_place(session, shift_id) is None:
            return
        first.status = AssignmentStatus.CONFIRMED
        session.flush()
        volunteer = session.get_one(Volunteer, first.volunteer_id)
        notify(
            session,
            volunteer,
            community,
            shift,
            "waitlist.promoted",
            key=f"promoted:{first.id}:{int(now.timestamp())}",
        )
        schedule_reminders(session, first, shift, now)


def notify(
    session: Session,
    volunteer: Volunteer,
    community: Community,
    shift: Shift,
    message_key: str,
    *,
    key: str,
    kind: MessageKind = MessageKind.NOTICE,
) -> None:
    body = catalog.render(
        volunteer.language,
        message_key,
        {"community": community.name, **facts(shift, community, volunteer.language).params()},
    )
    queue_message(
        session,
        volunteer=volunteer,
        body=body,
        kind=kind,
        idempotency_key=key,
        send_before=shift.starts_at,
    )


def confirm(
    session: Session,
    volunteer: Volunteer,
    community: Community,
    assignment_id: int,
    now: datetime,
) -> ConfirmResult:
    assignment = session.get(Assignment, assignment_id)
    if (
        assignment is None
        or assignment.volunteer_id != volunteer.id
        or assignment.status != AssignmentStatus.CONFIRMED
    ):
        return ConfirmResult("not_found")
    assignment.confirmed_at = now
    return ConfirmResult("confirmed", facts(assignment.shift, community, volunteer.language, now))


def check_in(
    session: Session, volunteer: Volunteer, community: Community, now: datetime
) -> AttendanceResult:
    candidates = session.scalars(
        select(Assignment)
        .join(Shift, Shift.id == Assignment.shift_id)
        .where(
            Assignment.volunteer_id == volunteer.id,
            Assignment.status.in_((AssignmentStatus.CONFIRMED, AssignmentStatus.CHECKED_IN)),
            Shift.starts_at <= now + CHECK_IN_OPENS,
            Shift.ends_at > now,
            Shift.status != ShiftStatus.CANCELLED,
        )
        .order_by(Shift.starts_at)
    ).all()
    if not candidates:
        return AttendanceResult("no_shift")
    assignment = candidates[0]
    shift_facts = facts(assignment.shift, community, volunteer.language, now)
    if assignment.status == AssignmentStatus.CHECKED_IN:
        return AttendanceResult("already_in", shift_facts)
    assignment.status = AssignmentStatus.CHECKED_IN
    assignment.checked_in_at = now
    return AttendanceResult("checked_in", shift_facts)


def check_out(
    session: Session, volunteer: Volunteer, community: Community, now: datetime
) -> AttendanceResult:
    assignment = session.scalar(
        select(Assignment)
        .join(Shift, Shift.id == Assignment.shift_id)
        .where(
            Assignment.volunteer_id == volunteer.id,
            Assignment.status == AssignmentStatus.CHECKED_IN,
            Shift.ends_at > now - CHECK_OUT_GRACE,
        )
        .order_by(Assignment.checked_in_at.desc())
        .limit(1)
    )
    if assignment is None or assignment.checked_in_at is None:
        return AttendanceResult("not_in")
    assignment.status = AssignmentStatus.CHECKED_OUT
    assignment.checked_out_at = now
    assignment.minutes_served = max(int((now - assignment.checked_in_at).total_seconds() // 60), 0)
    return AttendanceResult(
        "checked_out",
        facts(assignment.shift, community, volunteer.language, now),
        hours=format_hours(assignment.minutes_served),
    )


def format_hours(minutes: int) -> str:
    return f"{minutes / 60:.1f}".removesuffix(".0")


def cancel_shift(session: Session, shift: Shift, community: Community, now: datetime) -> int:
    """Cancel a shift and tell everyone on it (once, even if cancelled twice)."""
    if shift.status == ShiftStatus.CANCELLED:
        return 0
    shift.status = ShiftStatus.CANCELLED
    session.execute(  # its call-outs stop: no more waves, queued asks are suppressed
        update(CallOut)
        .where(CallOut.shift_id == shift.id, CallOut.status == CallOutStatus.OPEN)
        .values(status=CallOutStatus.CLOSED)
    )
    told = 0
    for assignment in session.scalars(
        select(Assignment).where(Assignment.shift_id == shift.id, Assignment.status.in_(ACTIVE))
    ):
        volunteer = session.get_one(Volunteer, assignment.volunteer_id)
        assignment.status = AssignmentStatus.DROPPED
        assignment.dropped_at = now
        notify(
            session,
            volunteer,
            community,
            shift,
            "shift.cancelled",
            key=f"cancelled:{shift.id}:{volunteer.id}",
        )
        told += 1
    return told


def move_shift(
    session: Session, shift: Shift, starts_at: datetime, ends_at: datetime, now: datetime
) -> None:
    """Change a shift's time; reminders are re-derived (the old ones no longer match)."""
    if ends_at <= starts_at:
        raise RosterError("--ends must be after --starts")
    shift.starts_at, shift.ends_at = starts_at, ends_at
    shift.schedule_version += 1
    session.flush()
    for assignment in session.scalars(
        select(Assignment).where(
            Assignment.shift_id == shift.id, Assignment.status == AssignmentStatus.CONFIRMED
        )
    ):
        schedule_reminders(session, assignment, shift, now)


def reminder_key(assignment: Assignment, shift: Shift, offset: int) -> str:
    """One reminder per booking (a re-sign-up is a new one), shift version and offset."""
    return f"reminder:{assignment.id}:{assignment.queue_seq}:{shift.schedule_version}:{offset}"


def schedule_reminders(
    session: Session, assignment: Assignment, shift: Shift, now: datetime
) -> int:
    """One outbox row per reminder offset still in the future (none are stale)."""
    roster = session.get_one(Roster, shift.roster_id)
    count = 0
    for offset in roster.reminder_offsets or []:
        fire_at = shift.starts_at - timedelta(minutes=offset)
        if fire_at <= now:
            continue
        count += outbox.add_unless_present(
            session,
            job=REMINDER_JOB,
            payload={
                "assignment_id": assignment.id,
                "offset": offset,
                "booking": assignment.queue_seq,
                "version": shift.schedule_version,
            },
            dedupe_key=reminder_key(assignment, shift, offset),
            available_at=fire_at,
        )
    return count


def mark_no_shows(session: Session, now: datetime) -> int:
    """Confirmed volunteers who never checked in, once the shift is over, are no-shows."""
    ended = select(Shift.id).where(Shift.ends_at <= now - NO_SHOW_AFTER)
    result = session.execute(
        update(Assignment)
        .where(Assignment.status == AssignmentStatus.CONFIRMED, Assignment.shift_id.in_(ended))
        .values(status=AssignmentStatus.NO_SHOW, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Shift)
        .where(Shift.ends_at <= now, Shift.status.in_((ShiftStatus.OPEN, ShiftStatus.FULL)))
        .values(status=ShiftStatus.DONE)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def set_attendance(
    session: Session, assignment: Assignment, status: AssignmentStatus, minutes: int | None
) -> None:
    """A coordinator's correction (e.g. a no-show who did come)."""
    if status not in PLACE_HOLDING:
        raise RosterError("status must be confirmed, checked_in, checked_out or no_show")
    if assignment.status not in PLACE_HOLDING:
        raise RosterError("only a volunteer who holds a place can have attendance corrected")
    if minutes is not None and not 0 <= minutes <= 24 * 60:
        raise RosterError("minutes must be between 0 and 1440")
    assignment.status = status
    if minutes is not None:
        assignment.minutes_served = minutes


class ShiftEditError(ValueError):
    """A change a coordinator may not make; the message says why, in their words, and
    ``field`` names the form field at fault."""

    def __init__(self, message: str, field: str = "form") -> None:
        super().__init__(message)
        self.field = field


def edit_shift(
    session: Session,
    shift: Shift,
    community: Community,
    *,
    title: str,
    place: str,
    capacity: int,
    skill: str | None,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> list[str]:
    """Change a shift's details; returns what changed. A move re-plans the reminders
    (``move_shift``); more places go to the waitlist first (each promoted volunteer
    is told by the catalog text). Runs in the caller's transaction."""
    if shift.status in (ShiftStatus.CANCELLED, ShiftStatus.DONE):
        raise ShiftEditError(f"This shift is {shift.status.value}: it can no longer be changed.")
    if capacity < shift.confirmed_count:
        raise ShiftEditError(
            f"Capacity cannot go below the {shift.confirmed_count} place(s) already taken.",
            "capacity",
        )
    changed = set_changed(
        shift, title=title, place=place, skill=(skill or "").strip().lower() or None
    )
    if (starts_at, ends_at) != (shift.starts_at, shift.ends_at):
        move_shift(session, shift, starts_at, ends_at, now)
        changed.append("time")
    if capacity != shift.capacity:
        shift.capacity = capacity
        changed.append("capacity")
        session.flush()
        promote_waitlist(session, community, shift.id, now)
        session.refresh(shift)
        shift.status = (
            ShiftStatus.FULL if shift.confirmed_count >= shift.capacity else ShiftStatus.OPEN
        )
    session.flush()
    return changed
