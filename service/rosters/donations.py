"""Donation rosters: needs on a recurring cycle, pledges capped at what is missing (held by the
database), DONE, coordinator marks, coverage, day-before reminders, standing pledges and gap
asks with fair rotation.

Functions run inside the caller's transaction and never commit. Texts come from the catalogs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Exists, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from flows import catalog
from flows.dates import DateStyle
from flows.donations import (
    DonationQuestion,
    DoneResult,
    NeedView,
    PledgeFacts,
    PledgeResult,
    StandingResult,
)
from flows.shifts import DropResult, ShiftFacts
from service.communities.dates import date_style
from service.conversations.questions import ask_question
from service.models import (
    Channel,
    Community,
    Cycle,
    CycleNeed,
    DonationAsk,
    DonationSchedule,
    MessageKind,
    Need,
    Pledge,
    PledgeStatus,
    Roster,
    RosterKind,
    StandingPledge,
    Volunteer,
)
from service.sending import eligibility, outbox
from service.sending.queue import queue_message

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
REMINDER_JOB = "workers.donations.send_pledge_reminder"
GAP_JOB = "workers.donations.ask_gaps"
STANDING_JOB = "workers.donations.check_standing"
STANDING_CHECK_DAYS = 3  # ask standing pledgers this many days before the drop-off
GAP_ASKS_PER_MISSING_UNIT = 1
GAP_MAX_ASKS = 10


class DonationError(ValueError):
    """Bad input for a need or schedule; the message says which field and why."""


# ----- schedule and cycles -----------------------------------------------------------------
def parse_weekday(raw: str) -> int:
    text = raw.strip().lower()
    for index, name in enumerate(WEEKDAYS):
        if text in (name, name[:3]):
            return index
    raise DonationError(f"--cycle-day {raw!r} is not a weekday (monday ... sunday)")


def donation_schedule(
    session: Session, community: Community, weekday: int | None = None
) -> DonationSchedule:
    """The community's donation roster and schedule, created on first use."""
    schedule = session.scalar(
        select(DonationSchedule).where(DonationSchedule.community_id == community.id)
    )
    if schedule is None:
        roster = Roster(
            community_id=community.id,
            kind=RosterKind.DONATIONS,
            name="Donations",
            reminder_offsets=[],
        )
        session.add(roster)
        session.flush()
        schedule = DonationSchedule(
            roster_id=roster.id,
            community_id=community.id,
            weekday=5 if weekday is None else weekday,
            place="",
            window_start_minute=10 * 60,
            window_end_minute=12 * 60,
            reminder_minute=18 * 60,
            gap_ask_hours=48,
        )
        session.add(schedule)
        session.flush()
    elif weekday is not None and schedule.every_days is None:
        schedule.weekday = weekday
    return schedule


def add_need(
    session: Session,
    community: Community,
    *,
    weekday: int,
    item: str,
    quantity: int,
    unit: str = "",
) -> Need:
    item, unit = item.strip(), unit.strip()
    if not 1 <= len(item) <= 60:
        raise DonationError("--item must be 1 to 60 characters")
    if len(unit) > 20:
        raise DonationError("--unit must be at most 20 characters")
    if not 1 <= quantity <= 100_000:
        raise DonationError("--quantity must be between 1 and 100000")
    schedule = donation_schedule(session, community, weekday)
    need = Need(
        roster_id=schedule.roster_id,
        community_id=community.id,
        item=item,
        target=quantity,
        unit=unit,
        active=True,
    )
    session.add(need)
    session.flush()
    return need


def needs_of_item(session: Session, community: Community, item: str) -> list[Need]:
    """Active needs of ``item`` (any case) in the community's donation cycle: a second one is
    usually a typing slip."""
    schedule = donation_schedule(session, community)
    return list(
        session.scalars(
            select(Need)
            .where(
                Need.roster_id == schedule.roster_id,
                Need.active.is_(True),
                func.lower(Need.item) == item.strip().lower(),
            )
            .order_by(Need.id)
        )
    )


def next_day(schedule: DonationSchedule, community: Community, now: datetime) -> date:
    """The next drop-off day whose window has not ended yet (local date)."""
    zone = ZoneInfo(community.timezone)
    local = now.astimezone(zone)
    today = local.date()
    window_over = local.hour * 60 + local.minute >= schedule.window_end_minute
    if schedule.every_days and schedule.anchor:
        step = schedule.every_days
        delta = (today - schedule.anchor).days
        offset = 0 if delta <= 0 else (-delta) % step
        day = schedule.anchor if delta < 0 else today + timedelta(days=offset)
        if day == today and window_over:
            day += timedelta(days=step)
        return day
    weekday = schedule.weekday if schedule.weekday is not None else 5
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and window_over:
        ahead = 7
    return today + timedelta(days=ahead)


def cycle_for(
    session: Session, schedule: DonationSchedule, community: Community, day: date
) -> Cycle:
    """The cycle of ``day`` with a coverage row per active need (created on first use)."""
    find = select(Cycle).where(Cycle.roster_id == schedule.roster_id, Cycle.day == day)
    cycle = session.scalar(find)
    if cycle is None or _needs_without_row(session, schedule, cycle):
        # Creating rows: serialise on the schedule's row, or concurrent first GIVEs (or GIVE
        # and the planning sweep) insert the same cycle or coverage row twice and one fails.
        session.execute(
            select(DonationSchedule.id).where(DonationSchedule.id == schedule.id).with_for_update()
        )
        cycle = session.scalar(find)
    zone = ZoneInfo(community.timezone)
    if cycle is None:
        start = datetime.combine(day, _clock(schedule.window_start_minute), tzinfo=zone)
        end = datetime.combine(day, _clock(schedule.window_end_minute), tzinfo=zone)
        cycle = Cycle(
            roster_id=schedule.roster_id,
            community_id=community.id,
            day=day,
            starts_at=start.astimezone(UTC),
            ends_at=end.astimezone(UTC),
        )
        session.add(cycle)
        session.flush()
    for need in _needs_without_row(session, schedule, cycle):
        session.add(
            CycleNeed(
                cycle_id=cycle.id,
                need_id=need.id,
                target=need.target,
                pledged=0,
                delivered=0,
                seq=0,
            )
        )
    session.flush()
    return cycle


def _needs_without_row(session: Session, schedule: DonationSchedule, cycle: Cycle) -> list[Need]:
    """Active needs of the roster that have no coverage row in ``cycle`` yet."""
    have = select(CycleNeed.need_id).where(CycleNeed.cycle_id == cycle.id)
    return list(
        session.scalars(
            select(Need)
            .where(
                Need.roster_id == schedule.roster_id,
                Need.active.is_(True),
                Need.id.not_in(have),
            )
            .order_by(Need.id)
        )
    )


def schedule_of(session: Session, cycle: Cycle) -> DonationSchedule | None:
    return session.scalar(
        select(DonationSchedule).where(DonationSchedule.roster_id == cycle.roster_id)
    )


def next_cycle(session: Session, community: Community, now: datetime) -> Cycle | None:
    schedule = session.scalar(
        select(DonationSchedule).where(DonationSchedule.community_id == community.id)
    )
    if schedule is None:
        return None
    return cycle_for(session, schedule, community, next_day(schedule, community, now))


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def cycle_when(
    cycle: Cycle, community: Community, language: str, now: datetime | None = None
) -> str:
    """The cycle's day: "Sat 7 Mar" ("Sat Mar 7" in the US), or "tomorrow" with ``now``."""
    local = cycle.starts_at.astimezone(ZoneInfo(community.timezone))
    return date_style(community, language, now).day(local.date())


def window_text(schedule: DonationSchedule, style: DateStyle | None = None) -> str:
    """The drop-off window: "10:00-12:00" (coordinators), or in a volunteer's ``style``, on
    the community's clock: "10am-12pm"."""
    start, end = _clock(schedule.window_start_minute), _clock(schedule.window_end_minute)
    return f"{start:%H:%M}-{end:%H:%M}" if style is None else style.window(start, end)


# ----- reading -----------------------------------------------------------------------------
@dataclass(frozen=True)
class NeedCoverage:
    item: str
    target: int
    pledged: int
    delivered: int
    unit: str

    @property
    def missing(self) -> int:
        return max(self.target - self.pledged, 0)


def coverage(session: Session, cycle: Cycle) -> list[NeedCoverage]:
    """Pledged, delivered and missing per need in one cycle (for the CLI and the console)."""
    rows = session.execute(
        select(Need.item, CycleNeed.target, CycleNeed.pledged, CycleNeed.delivered, Need.unit)
        .join(Need, Need.id == CycleNeed.need_id)
        .where(CycleNeed.cycle_id == cycle.id)
        .order_by(Need.id)
    ).all()
    return [NeedCoverage(*row) for row in rows]


def open_needs(
    session: Session, community: Community, language: str, now: datetime
) -> list[NeedView]:
    cycle = next_cycle(session, community, now)
    if cycle is None:
        return []
    when = cycle_when(cycle, community, language, now)
    rows = session.execute(
        select(CycleNeed, Need)
        .join(Need, Need.id == CycleNeed.need_id)
        .where(CycleNeed.cycle_id == cycle.id)
        .order_by(Need.id)
    ).all()
    return [
        NeedView(cn.id, need.item, need.unit, max(cn.target - cn.pledged, 0), cn.target, when)
        for cn, need in rows
    ]


def runs_donations(community_id: ColumnElement[int] | InstrumentedAttribute[int]) -> Exists:
    """SQL for "the community runs a donation roster" (it has an active need), so replies offer
    GIVE: a column for a query that reads the community anyway, at no extra statement."""
    return select(Need.id).where(Need.community_id == community_id, Need.active.is_(True)).exists()


def pledges_of(session: Session, volunteer: Volunteer, now: datetime) -> list[Pledge]:
    return list(
        session.scalars(
            select(Pledge)
            .join(CycleNeed, CycleNeed.id == Pledge.cycle_need_id)
            .join(Cycle, Cycle.id == CycleNeed.cycle_id)
            .where(
                Pledge.volunteer_id == volunteer.id,
                Pledge.status == PledgeStatus.PLEDGED,
                Cycle.ends_at > now,
            )
            .order_by(Cycle.starts_at, Pledge.id)
        )
    )


def pledge_facts(
    session: Session,
    cycle_need: CycleNeed,
    community: Community,
    language: str,
    now: datetime | None = None,
) -> PledgeFacts:
    need = session.get_one(Need, cycle_need.need_id)
    cycle = session.get_one(Cycle, cycle_need.cycle_id)
    schedule = schedule_of(session, cycle)
    return PledgeFacts(
        item=need.item,
        unit=need.unit,
        when=cycle_when(cycle, community, language, now),
        place=schedule.place if schedule else "",
    )


# ----- writing -----------------------------------------------------------------------------
def _lock_cycle_need(session: Session, cycle_need_id: int) -> CycleNeed | None:
    """Bump the row's counter: takes its lock until commit, then read it fresh."""
    session.execute(
        update(CycleNeed)
        .where(CycleNeed.id == cycle_need_id)
        .values(seq=CycleNeed.seq + 1)
        .execution_options(synchronize_session=False)
    )
    return session.scalars(
        select(CycleNeed)
        .where(CycleNeed.id == cycle_need_id)
        .execution_options(populate_existing=True)
    ).one_or_none()


def pledge(
    session: Session,
    volunteer: Volunteer,
    community: Community,
    cycle_need_id: int,
    quantity: int,
    now: datetime,
    *,
    weekly: bool = False,
    standing_id: int | None = None,
) -> PledgeResult:
    """Pledge up to what is still missing (capped, and the reply says so)."""
    cycle_need = _lock_cycle_need(session, cycle_need_id)
    if cycle_need is None:
        return PledgeResult("closed")
    cycle = session.get_one(Cycle, cycle_need.cycle_id)
    if cycle.community_id != community.id or cycle.ends_at <= now:
        return PledgeResult("closed")
    facts = pledge_facts(session, cycle_need, community, volunteer.language, now)
    granted = min(quantity, cycle_need.target - cycle_need.pledged)
    if granted <= 0:
        return PledgeResult("full", facts)
    cycle_need.pledged += granted
    existing = session.scalar(
        select(Pledge).where(
            Pledge.cycle_need_id == cycle_need_id,
            Pledge.volunteer_id == volunteer.id,
            Pledge.status == PledgeStatus.PLEDGED,
        )
    )
    if existing is None:
        existing = Pledge(
            cycle_need_id=cycle_need_id,
            volunteer_id=volunteer.id,
            quantity=granted,
            status=PledgeStatus.PLEDGED,
            created_at=now,
        )
        session.add(existing)
    else:
        existing.quantity += granted
    existing.standing_id = standing_id
    if weekly:
        standing = session.scalar(
            select(StandingPledge).where(
                StandingPledge.need_id == cycle_need.need_id,
                StandingPledge.volunteer_id == volunteer.id,
            )
        )
        if standing is None:
            standing = StandingPledge(
                need_id=cycle_need.need_id, volunteer_id=volunteer.id, quantity=quantity
            )
            session.add(standing)
        standing.quantity, standing.active = quantity, True
        session.flush()
        existing.standing_id = standing.id
    session.flush()
    schedule_pledge_reminder(session, existing, cycle, community, now)
    if granted == quantity:
        return PledgeResult("pledged", facts, granted, weekly)
    return PledgeResult("capped", facts, granted, weekly)


def drop_pledge(
    session: Session, volunteer: Volunteer, community: Community, pledge_id: int, now: datetime
) -> DropResult:
    item = session.get(Pledge, pledge_id)
    if item is None or item.volunteer_id != volunteer.id or item.status != PledgeStatus.PLEDGED:
        return DropResult("not_found")
    cycle_need = _lock_cycle_need(session, item.cycle_need_id)
    assert cycle_need is not None
    cycle_need.pledged = max(cycle_need.pledged - item.quantity, 0)
    item.status = PledgeStatus.DROPPED
    facts = pledge_facts(session, cycle_need, community, volunteer.language, now)
    title = f"{item.quantity} {facts.unit} {facts.item}".replace("  ", " ")
    return DropResult("dropped", ShiftFacts(title=title, when=facts.when, place=facts.place))


def mark_done(
    session: Session, volunteer: Volunteer, community: Community, now: datetime
) -> DoneResult:
    """DONE: today's pledges are delivered."""
    today = now.astimezone(ZoneInfo(community.timezone)).date()
    rows = session.scalars(
        select(Pledge)
        .join(CycleNeed, CycleNeed.id == Pledge.cycle_need_id)
        .join(Cycle, Cycle.id == CycleNeed.cycle_id)
        .where(
            Pledge.volunteer_id == volunteer.id,
            Pledge.status == PledgeStatus.PLEDGED,
            Cycle.day == today,
            Cycle.community_id == community.id,
        )
    ).all()
    for item in rows:
        set_pledge_status(session, item, PledgeStatus.DELIVERED, now)
    return DoneResult("delivered", len(rows)) if rows else DoneResult("nothing_today")


def set_pledge_status(session: Session, item: Pledge, status: PledgeStatus, now: datetime) -> None:
    """Delivered or missed (the volunteer's DONE, or a coordinator's mark)."""
    if status not in (PledgeStatus.DELIVERED, PledgeStatus.MISSED):
        raise DonationError("status must be delivered or missed")
    cycle_need = _lock_cycle_need(session, item.cycle_need_id)
    assert cycle_need is not None
    if item.status == PledgeStatus.DELIVERED and status != PledgeStatus.DELIVERED:
        cycle_need.delivered = max(cycle_need.delivered - item.quantity, 0)
    if status == PledgeStatus.DELIVERED and item.status != PledgeStatus.DELIVERED:
        cycle_need.delivered += item.quantity
        item.delivered_at = now
    item.status = status


def answer_standing(
    session: Session,
    volunteer: Volunteer,
    community: Community,
    standing_id: int,
    yes: bool,
    now: datetime,
) -> StandingResult:
    standing = session.get(StandingPledge, standing_id)
    if standing is None or standing.volunteer_id != volunteer.id or not standing.active:
        return StandingResult("gone")
    cycle = next_cycle(session, community, now)
    if cycle is None:
        return StandingResult("gone")
    cycle_need = session.scalar(
        select(CycleNeed).where(
            CycleNeed.cycle_id == cycle.id, CycleNeed.need_id == standing.need_id
        )
    )
    if cycle_need is None:
        return StandingResult("gone")
    facts = pledge_facts(session, cycle_need, community, volunteer.language, now)
    if not yes:
        return StandingResult("skipped", facts, standing.quantity)
    result = pledge(
        session,
        volunteer,
        community,
        cycle_need.id,
        standing.quantity,
        now,
        standing_id=standing.id,
    )
    if result.outcome in ("full", "closed"):
        return StandingResult("gone", facts)
    return StandingResult("pledged", facts, result.quantity)


# ----- scheduled work ----------------------------------------------------------------------
def schedule_pledge_reminder(
    session: Session, item: Pledge, cycle: Cycle, community: Community, now: datetime
) -> None:
    schedule = schedule_of(session, cycle)
    if schedule is None:
        return
    zone = ZoneInfo(community.timezone)
    fire = datetime.combine(
        cycle.day - timedelta(days=1), _clock(schedule.reminder_minute), tzinfo=zone
    ).astimezone(UTC)
    if fire <= now:
        return
    outbox.add_unless_present(
        session,
        job=REMINDER_JOB,
        payload={"pledge_id": item.id},
        dedupe_key=f"pledge-reminder:{item.id}:{cycle.id}",
        available_at=fire,
    )


def plan_cycles(session: Session, now: datetime) -> int:
    """The periodic sweep: make sure each community's next cycle exists, with its gap ask and
    standing-pledge checks planned. Safe to run any number of times."""
    planned = 0
    for schedule in session.scalars(select(DonationSchedule)):
        community = session.get_one(Community, schedule.community_id)
        cycle = cycle_for(session, schedule, community, next_day(schedule, community, now))
        gap_at = cycle.starts_at - timedelta(hours=schedule.gap_ask_hours)
        standing_at = cycle.starts_at - timedelta(days=STANDING_CHECK_DAYS)
        for job, key, at in (
            (GAP_JOB, f"gap-asks:{cycle.id}", gap_at),
            (STANDING_JOB, f"standing-checks:{cycle.id}", standing_at),
        ):
            planned += outbox.add_unless_present(
                session,
                job=job,
                payload={"cycle_id": cycle.id},
                dedupe_key=key,
                available_at=max(at, now),
            )
    return planned


def gap_candidates(
    session: Session, cycle: Cycle, community: Community, now: datetime, limit: int
) -> list[Volunteer]:
    """Volunteers who have not pledged this cycle nor been asked in it, whom the send gate
    would let an ask through to now (``service.sending.eligibility``: available, reachable,
    under the weekly ask limit, not in quiet hours); least recently asked first (never asked
    before anyone)."""
    pledged_here = (
        select(Pledge.volunteer_id)
        .join(CycleNeed, CycleNeed.id == Pledge.cycle_need_id)
        .where(CycleNeed.cycle_id == cycle.id, Pledge.status != PledgeStatus.DROPPED)
    )
    asked_here = (
        select(DonationAsk.volunteer_id)
        .join(CycleNeed, CycleNeed.id == DonationAsk.cycle_need_id)
        .where(CycleNeed.cycle_id == cycle.id)
    )
    return list(
        session.scalars(
            select(Volunteer)
            .where(
                Volunteer.community_id == community.id,
                eligibility.recipients_clause(
                    MessageKind.ASK, community, _channels(session, community), now
                ),
                Volunteer.id.not_in(pledged_here),
                Volunteer.id.not_in(asked_here),
            )
            .order_by(Volunteer.last_asked_at.is_not(None), Volunteer.last_asked_at, Volunteer.id)
            .limit(limit)
        )
    )


def _channels(session: Session, community: Community) -> list[Channel]:
    return list(session.scalars(select(Channel).where(Channel.community_id == community.id)))


def ask_gaps(session: Session, cycle: Cycle, now: datetime) -> int:
    """Ask for every need still short, fair rotation, one ask per volunteer per cycle."""
    community = session.get_one(Community, cycle.community_id)
    schedule = schedule_of(session, cycle)
    asked = 0
    for cycle_need in session.scalars(
        select(CycleNeed)
        .where(CycleNeed.cycle_id == cycle.id, CycleNeed.pledged < CycleNeed.target)
        .order_by(CycleNeed.id)
    ):
        missing = cycle_need.target - cycle_need.pledged
        need = session.get_one(Need, cycle_need.need_id)
        for volunteer in gap_candidates(
            session, cycle, community, now, min(GAP_MAX_ASKS, missing * GAP_ASKS_PER_MISSING_UNIT)
        ):
            session.add(
                DonationAsk(cycle_need_id=cycle_need.id, volunteer_id=volunteer.id, asked_at=now)
            )
            session.flush()
            _send_ask(
                session,
                volunteer,
                community,
                cycle,
                schedule,
                need,
                message_key="gap.ask",
                params={"missing": missing},
                idempotency_key=f"gap:{cycle_need.id}:{volunteer.id}",
            )
            volunteer.last_asked_at = now
            ask_question(volunteer, DonationQuestion.GAP, cycle_need.id, cycle.ends_at)
            asked += 1
    return asked


def check_standing(session: Session, cycle: Cycle, now: datetime) -> int:
    """Ask each active standing pledger whether they bring it this cycle (YES / NO)."""
    community = session.get_one(Community, cycle.community_id)
    schedule = schedule_of(session, cycle)
    asked = 0
    standings = session.scalars(
        select(StandingPledge)
        .join(Need, Need.id == StandingPledge.need_id)
        .where(Need.roster_id == cycle.roster_id, StandingPledge.active.is_(True))
    ).all()
    askable = set(  # whom the send gate would let the check (an ask) through to now
        session.scalars(
            select(Volunteer.id).where(
                Volunteer.id.in_({s.volunteer_id for s in standings}),
                eligibility.recipients_clause(
                    MessageKind.ASK, community, _channels(session, community), now
                ),
            )
        )
    )
    for standing in standings:
        if standing.volunteer_id not in askable:
            continue
        volunteer = session.get_one(Volunteer, standing.volunteer_id)
        cycle_need = session.scalar(
            select(CycleNeed).where(
                CycleNeed.cycle_id == cycle.id, CycleNeed.need_id == standing.need_id
            )
        )
        if cycle_need is None or session.scalar(
            select(Pledge).where(
                Pledge.cycle_need_id == cycle_need.id,
                Pledge.volunteer_id == volunteer.id,
                Pledge.status == PledgeStatus.PLEDGED,
            )
        ):
            continue  # already pledged for this cycle
        need = session.get_one(Need, standing.need_id)
        _send_ask(
            session,
            volunteer,
            community,
            cycle,
            schedule,
            need,
            message_key="standing.ask",
            params={"quantity": standing.quantity},
            idempotency_key=f"standing:{standing.id}:{cycle.id}",
        )
        ask_question(volunteer, DonationQuestion.STANDING, standing.id, cycle.starts_at)
        asked += 1
    return asked


def _send_ask(
    session: Session,
    volunteer: Volunteer,
    community: Community,
    cycle: Cycle,
    schedule: DonationSchedule | None,
    need: Need,
    *,
    message_key: str,
    params: dict[str, object],
    idempotency_key: str,
) -> None:
    """Queue a gap ask or a standing-pledge check about ``need`` in ``cycle``."""
    body = catalog.render(
        volunteer.language,
        message_key,
        {
            "community": community.name,
            "unit": need.unit,
            "item": need.item,
            "when": cycle_when(cycle, community, volunteer.language),
            "place": schedule.place if schedule else "",
            **params,
        },
    )
    queue_message(
        session,
        volunteer=volunteer,
        body=" ".join(body.split()),
        kind=MessageKind.ASK,
        idempotency_key=idempotency_key,
    )


def pledge_commitments(
    session: Session, volunteer: Volunteer, community: Community, now: datetime
) -> list[tuple[datetime, Pledge, PledgeFacts]]:
    out = []
    for item in pledges_of(session, volunteer, now):
        cycle_need = session.get_one(CycleNeed, item.cycle_need_id)
        cycle = session.get_one(Cycle, cycle_need.cycle_id)
        out.append(
            (
                cycle.starts_at,
                item,
                pledge_facts(session, cycle_need, community, volunteer.language, now),
            )
        )
    return out
