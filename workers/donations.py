"""Donation jobs: the day-before pledge reminder, gap asks and standing-pledge checks.

Each re-checks its preconditions when it runs (the pledge is still open, the cycle is not
over, quiet hours), so running one twice or late is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import catalog
from service import clock
from service.communities.dates import date_style
from service.db import unit_of_work
from service.models import (
    Community,
    Cycle,
    CycleNeed,
    DonationSchedule,
    MessageKind,
    Pledge,
    PledgeStatus,
    Volunteer,
)
from service.rosters import donations as donation_service
from service.sending import eligibility
from service.sending.queue import queue_message
from workers import dispatch
from workers.outbox import Defer, defer_past_quiet_hours
from workers.runtime import runtime


def send_pledge_reminder(pledge_id: int) -> str:
    now = clock.now()
    with unit_of_work(runtime().session_factory) as session:
        item = session.get(Pledge, pledge_id)
        if item is None or item.status != PledgeStatus.PLEDGED:
            return "skipped: not pledged"
        cycle_need = session.get_one(CycleNeed, item.cycle_need_id)
        cycle = session.get_one(Cycle, cycle_need.cycle_id)
        if cycle.ends_at <= now:
            return "skipped: cycle over"
        volunteer = session.get_one(Volunteer, item.volunteer_id)
        if not eligibility.available(volunteer.status, volunteer.paused_until, now):
            return f"skipped: volunteer {volunteer.status.value}"
        community = session.get_one(Community, cycle.community_id)
        defer_past_quiet_hours(community, MessageKind.REMINDER, now, send_before=cycle.starts_at)
        schedule = session.scalars(
            select(DonationSchedule).where(DonationSchedule.roster_id == cycle.roster_id)
        ).one()
        facts = donation_service.pledge_facts(session, cycle_need, community, volunteer.language)
        body = catalog.render(
            volunteer.language,
            "pledge.reminder",
            {
                **facts.params(),
                "quantity": item.quantity,
                "window": donation_service.window_text(
                    schedule, date_style(community, volunteer.language)
                ),
                "community": community.name,
            },
        )
        message = queue_message(
            session,
            volunteer=volunteer,
            body=" ".join(body.split()),
            kind=MessageKind.REMINDER,
            idempotency_key=f"pledge-reminder:{item.id}:{cycle.id}",
            send_before=cycle.starts_at,
        )
        message_id = message.id
    return dispatch.send_message(message_id)


def ask_gaps(cycle_id: int) -> str:
    """Ask for what the cycle still misses (planned 48 hours before by default)."""
    return _for_cycle(cycle_id, donation_service.ask_gaps)


def check_standing(cycle_id: int) -> str:
    """Ask standing pledgers whether they bring it this cycle."""
    return _for_cycle(cycle_id, donation_service.check_standing)


def _for_cycle(cycle_id: int, action: Callable[[Session, Cycle, datetime], int]) -> str:
    """Run ``action`` on an open cycle, waiting out quiet hours unless that is too late."""
    now = clock.now()
    with unit_of_work(runtime().session_factory) as session:
        cycle = session.get(Cycle, cycle_id)
        if cycle is None or cycle.ends_at <= now:
            return "skipped: cycle over"
        community = session.get_one(Community, cycle.community_id)
        quiet_end = eligibility.quiet_wait(
            community, MessageKind.ASK, now, send_before=cycle.starts_at
        )
        if quiet_end is not None:
            raise Defer(quiet_end)
        asked = action(session, cycle, now)
    return f"asked {asked}"
