"""Opting out: our own record of it and what it gives back, whichever way it came (a STOP text,
a carrier's 21610 on a send or a status callback, an erasure on FORGET).

An opted-out volunteer gives back their upcoming places and pledges: each place is dropped
and the first on the waitlist promoted and told (``rosters.shifts.drop``), each pledge is
released (``rosters.donations.drop_pledge``) and weekly pledges end. A shift they are on right
now (checked in) stays theirs: those hours were served. Coordinators see it in the audit log
("places given back") and on each shift's roster (dropped, marked opted out).

Runs in the caller's transaction, never commits. Imports models, ``service.rosters`` and
``service.communities.audit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, object_session

from flows.engine import VolunteerStatus
from service.communities import audit
from service.models import AssignmentStatus, Community, StandingPledge, Volunteer
from service.rosters import donations as donation_service
from service.rosters import shifts as rosters

GIVEN_BACK = "places given back"  # the audit action coordinators filter on
COORDINATOR_LANGUAGE = "en"  # the console's language, for the audit entry's dates
FORGET_SOURCE = "forget"


@dataclass(frozen=True)
class GivenBack:
    """What an opt-out gave back, as a coordinator reads it."""

    shifts: list[str] = field(default_factory=list)  # "Sandbags, <when>"
    pledges: list[str] = field(default_factory=list)  # "5 kg Rice, <when>"
    weekly_pledges: int = 0

    def __bool__(self) -> bool:
        return bool(self.shifts or self.pledges or self.weekly_pledges)


def opt_out(volunteer: Volunteer, source: str, now: datetime) -> GivenBack:
    """Record an opt-out (nothing is sent to this volunteer again until they opt back in) and
    give back what they hold, in the session the volunteer was loaded in.

    Every opt-out path calls this one function; the session comes from the volunteer so the
    delivery paths (status callback, dispatcher) need not pass theirs. Running it again gives
    back nothing more.
    """
    if volunteer.status != VolunteerStatus.OPTED_OUT:
        volunteer.status = VolunteerStatus.OPTED_OUT
        volunteer.opted_out_at = now
        volunteer.opt_out_source = source
    volunteer.pending_question = None  # a YES after START must not answer an old reminder
    session = object_session(volunteer)
    if session is None:  # a detached row: nothing to give back through
        return GivenBack()
    return give_back(session, volunteer, now, source=source)


def give_back(session: Session, volunteer: Volunteer, now: datetime, *, source: str) -> GivenBack:
    """Drop the volunteer's upcoming places (promoting each waitlist) and pledges, end their
    weekly pledges, and record it for coordinators when anything was given back."""
    community = session.get_one(Community, volunteer.community_id)
    shifts: list[str] = []
    for assignment in rosters.commitments_of(session, volunteer, now):
        if assignment.status == AssignmentStatus.CHECKED_IN:
            continue  # on the shift right now: the hours are theirs
        facts = rosters.facts(assignment.shift, community, COORDINATOR_LANGUAGE)
        if rosters.drop(session, volunteer, community, assignment.id, now).outcome == "dropped":
            shifts.append(f"{facts.title}, {facts.when}")
    pledges: list[str] = []
    for pledge in donation_service.pledges_of(session, volunteer, now):
        need = donation_service.pledge_facts(
            session, pledge.cycle_need, community, COORDINATOR_LANGUAGE
        )
        what = " ".join(part for part in (str(pledge.quantity), need.unit, need.item) if part)
        result = donation_service.drop_pledge(session, volunteer, community, pledge.id, now)
        if result.outcome == "dropped":
            pledges.append(f"{what}, {need.when}")
    weekly = session.execute(
        update(StandingPledge)
        .where(StandingPledge.volunteer_id == volunteer.id, StandingPledge.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    given = GivenBack(shifts, pledges, int(weekly.rowcount))  # type: ignore[attr-defined]
    if given:
        audit.record(
            session,
            community_id=community.id,
            actor=None,
            actor_label=_who(source),
            action=GIVEN_BACK,
            subject=f"volunteer:{volunteer.id}",
            now=now,
            shifts=given.shifts,
            pledges=given.pledges,
            weekly_pledges_ended=given.weekly_pledges,
        )
    return given


def _who(source: str) -> str:
    """The audit log's actor for an opt-out from ``source``."""
    if source == FORGET_SOURCE:
        return "volunteer (FORGET)"
    if source.startswith("carrier:"):
        return f"carrier opt-out ({source.removeprefix('carrier:')})"
    return "volunteer (STOP)"
