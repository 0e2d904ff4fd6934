"""Donation roster commands: needs, the donation cycle's settings, marking pledges.

May import ``service`` (never ``workers``) and click.
"""

from __future__ import annotations

import csv
import sys
from datetime import date
from zoneinfo import ZoneInfo

import click
from sqlalchemy import func, select

from service import clock
from service.cli.common import database, parse_clock, stdin_is_terminal
from service.communities.registry import find_community
from service.models import (
    Community,
    Cycle,
    CycleNeed,
    DonationSchedule,
    Need,
    Pledge,
    PledgeStatus,
    Volunteer,
)
from service.rosters import donations
from service.volunteers.import_export import neutralize
from service.volunteers.phones import to_e164


def local_today(community: Community) -> date:
    return clock.now().astimezone(ZoneInfo(community.timezone)).date()


def cycle_name(schedule: DonationSchedule) -> str:
    """``Saturday`` or ``every 14 days from 2026-12-05``."""
    if schedule.every_days:
        return f"every {schedule.every_days} days from {schedule.anchor}"
    return donations.WEEKDAYS[schedule.weekday or 0].title()


@click.command("add-need")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--cycle-day", required=True, help="Drop-off weekday, e.g. saturday.")
@click.option("--item", required=True, help="What is needed, e.g. Rice.")
@click.option("--quantity", required=True, type=int, help="How much each cycle.")
@click.option("--unit", default="", help="Unit, e.g. kg, L, people.")
@click.option(
    "--yes",
    "again",
    is_flag=True,
    help="Add it even when the cycle day already needs the same item.",
)
def add_need_cmd(
    slug: str, cycle_day: str, item: str, quantity: int, unit: str, again: bool
) -> None:
    """Add a need to the community's weekly donation cycle; prints the need's id.

    A second need for the same item on the same cycle day is asked about first (on a
    terminal), or refused unless --yes is given.

    \b
    Example:
      handsup add-need --community riverside --cycle-day saturday --item Rice \\
        --quantity 20 --unit kg
    """
    with database() as session:
        community = find_community(session, slug)
        weekday = donations.parse_weekday(cycle_day)
        same = donations.needs_of_item(session, community, item)
        if same and not again:
            first = same[0]
            held = (
                f"the {cycle_name(donations.donation_schedule(session, community))} cycle "
                f"already needs {first.item}: {first.target} {first.unit}"
            ).rstrip()
            if not stdin_is_terminal():
                raise click.ClickException(
                    f"{held} (need {first.id}); add --yes to add a second need for it"
                )
            click.echo(f"Warning: {held} (need {first.id}).", err=True)
            click.confirm("Add a second need for it?", abort=True, err=True)
        need = donations.add_need(
            session,
            community,
            weekday=weekday,
            item=item,
            quantity=quantity,
            unit=unit,
        )
        click.echo(need.id)


@click.command("needs")
@click.option("--community", "slug", required=True, help="Community slug.")
def needs_cmd(slug: str) -> None:
    """Print the next cycle's coverage as CSV: item,target,pledged,delivered,unit.

    \b
    Example:
      handsup needs --community riverside
    """
    with database() as session:
        community = find_community(session, slug)
        cycle = donations.next_cycle(session, community, clock.now())
        rows = donations.coverage(session, cycle) if cycle is not None else []
    writer = csv.writer(sys.stdout)
    writer.writerow(["item", "target", "pledged", "delivered", "unit"])
    for row in rows:
        writer.writerow(
            [neutralize(row.item), row.target, row.pledged, row.delivered, neutralize(row.unit)]
        )


@click.command("donation-settings")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--cycle-day", default=None, help="Drop-off weekday (weekly cycles).")
@click.option(
    "--every-days",
    type=click.IntRange(1, 60),
    default=None,
    help="Instead: a cycle every N days ...",
)
@click.option("--first-day", default=None, help="... starting on this date (YYYY-MM-DD).")
@click.option("--place", default=None, help="Drop-off place.")
@click.option("--window", default=None, help="Drop-off window, HH:MM-HH:MM local.")
@click.option("--reminder-time", default=None, help="Day-before reminder time, HH:MM local.")
@click.option(
    "--gap-hours",
    type=click.IntRange(1, 14 * 24),
    default=None,
    help="Ask for missing items this many hours before the drop-off.",
)
def donation_settings_cmd(
    slug: str,
    cycle_day: str | None,
    every_days: int | None,
    first_day: str | None,
    place: str | None,
    window: str | None,
    reminder_time: str | None,
    gap_hours: int | None,
) -> None:
    """Show or change the donation cycle: day, place, window, reminder and gap-ask times.

    \b
    Example:
      handsup donation-settings --community riverside --cycle-day saturday \\
        --place "Church hall" --window 10:00-12:00
    """
    with database() as session:
        community = find_community(session, slug)
        schedule = donations.donation_schedule(session, community)
        if cycle_day is not None:
            schedule.weekday, schedule.every_days = donations.parse_weekday(cycle_day), None
        if every_days is not None:
            if first_day is None:
                raise click.ClickException("--every-days needs --first-day")
            try:
                schedule.anchor = date.fromisoformat(first_day)
            except ValueError:
                raise click.ClickException(f"--first-day {first_day!r} is not YYYY-MM-DD") from None
            schedule.every_days = every_days
        if place is not None:
            schedule.place = place.strip()[:120]
        if window is not None:
            start, _, end = window.partition("-")
            schedule.window_start_minute = parse_clock("--window", start)
            schedule.window_end_minute = parse_clock("--window", end)
            if schedule.window_end_minute <= schedule.window_start_minute:
                raise click.ClickException("--window must end after it starts")
        if reminder_time is not None:
            schedule.reminder_minute = parse_clock("--reminder-time", reminder_time)
        if gap_hours is not None:
            schedule.gap_ask_hours = gap_hours
        day = cycle_name(schedule)
        day = day if schedule.every_days else f"every {day}"
        click.echo(
            f"{slug}: {day}, {donations.window_text(schedule)} at {schedule.place or '(no place)'}"
            f"; reminder the day before at {schedule.reminder_minute // 60:02d}:"
            f"{schedule.reminder_minute % 60:02d}; gap asks {schedule.gap_ask_hours}h before"
        )


@click.command("mark-pledge")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--phone", required=True, help="The volunteer's number.")
@click.option("--item", required=True, help="The need's item.")
@click.option("--status", "status_name", required=True, type=click.Choice(["delivered", "missed"]))
def mark_pledge_cmd(slug: str, phone: str, item: str, status_name: str) -> None:
    """Mark a volunteer's pledge in the current cycle delivered or missed.

    \b
    Example:
      handsup mark-pledge --community riverside --phone 2025550111 --item Rice \\
        --status delivered
    """
    with database() as session:
        community = find_community(session, slug)
        e164 = to_e164(phone, community.country)
        mine = (
            select(Pledge)
            .join(Volunteer, Volunteer.id == Pledge.volunteer_id)
            .join(CycleNeed, CycleNeed.id == Pledge.cycle_need_id)
            .join(Need, Need.id == CycleNeed.need_id)
            .join(Cycle, Cycle.id == CycleNeed.cycle_id)
            .where(
                Volunteer.phone == e164,
                Need.community_id == community.id,
                func.lower(Need.item) == item.strip().lower(),
                Pledge.status != PledgeStatus.DROPPED,
            )
        )
        today = local_today(community)
        # The current (latest past or today's) cycle first; else the next one (an early drop).
        found = session.scalar(
            mine.where(Cycle.day <= today).order_by(Cycle.day.desc(), Pledge.id.desc()).limit(1)
        ) or session.scalar(
            mine.where(Cycle.day > today).order_by(Cycle.day, Pledge.id.desc()).limit(1)
        )
        if found is None:
            raise click.ClickException(f"{e164} has no pledge of {item!r}")
        donations.set_pledge_status(session, found, PledgeStatus(status_name), clock.now())
        click.echo(f"{e164}: {item} {status_name}")


COMMANDS: tuple[click.Command, ...] = (
    add_need_cmd,
    needs_cmd,
    donation_settings_cmd,
    mark_pledge_cmd,
)
