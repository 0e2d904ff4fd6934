"""Shift commands: add, move, cancel, print the roster, correct attendance, call out.

May import ``service`` (never ``workers``) and click.
"""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import clock
from service.cli.common import database, load_settings
from service.communities.registry import find_community
from service.models import Assignment, AssignmentStatus, CallOutAsk, Community, Shift, Volunteer
from service.rosters import callouts
from service.rosters import shifts as rosters
from service.sending import outbox
from service.volunteers.import_export import neutralize
from service.volunteers.phones import to_e164


def parse_moment(option: str, raw: str, community: Community) -> datetime:
    """ISO 8601; a time without an offset is in the community's time zone."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise click.ClickException(f"{option} {raw!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(community.timezone))
    return moment.astimezone(UTC)


def find_shift(session: Session, shift_id: int) -> tuple[Shift, Community]:
    shift = session.get(Shift, shift_id)
    if shift is None:
        raise click.ClickException(f"no shift with id {shift_id}")
    return shift, session.get_one(Community, shift.community_id)


@click.command("add-shift")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--title", required=True, help="What the shift is, e.g. 'Sandbag team'.")
@click.option("--place", required=True, help="Where to go.")
@click.option("--starts", required=True, help="ISO 8601, e.g. 2026-12-05T09:00 (local time).")
@click.option("--ends", required=True, help="ISO 8601 end time.")
@click.option("--capacity", required=True, type=int, help="How many people are needed.")
@click.option("--skill", default=None, help="Only volunteers with this skill may sign up.")
def add_shift_cmd(
    slug: str, title: str, place: str, starts: str, ends: str, capacity: int, skill: str | None
) -> None:
    """Add a shift to the community's roster; prints the new shift's id.

    \b
    Example:
      handsup add-shift --community riverside --title "Sandbag team" --place "School gym" \\
        --starts 2026-12-05T09:00 --ends 2026-12-05T13:00 --capacity 4
    """
    with database() as session:
        community = find_community(session, slug)
        starts_at = parse_moment("--starts", starts, community)
        now = clock.now()
        if starts_at <= now:
            local_now = now.astimezone(ZoneInfo(community.timezone)).strftime("%Y-%m-%dT%H:%M")
            raise click.ClickException(
                f"--starts {starts} is in the past (it is {local_now} in {community.timezone}): "
                "a shift must start later than now"
            )
        shift = rosters.add_shift(
            session,
            community,
            title=title,
            place=place,
            starts_at=starts_at,
            ends_at=parse_moment("--ends", ends, community),
            capacity=capacity,
            skill=skill,
        )
        click.echo(shift.id)


@click.command("move-shift")
@click.option("--shift", "shift_id", required=True, type=int, help="Shift id.")
@click.option("--starts", required=True, help="New ISO 8601 start.")
@click.option("--ends", required=True, help="New ISO 8601 end.")
def move_shift_cmd(shift_id: int, starts: str, ends: str) -> None:
    """Change a shift's time; reminders are planned again for the new time.

    \b
    Example:
      handsup move-shift --shift 12 --starts 2026-12-05T10:00 --ends 2026-12-05T14:00
    """
    with database() as session:
        shift, community = find_shift(session, shift_id)
        rosters.move_shift(
            session,
            shift,
            parse_moment("--starts", starts, community),
            parse_moment("--ends", ends, community),
            clock.now(),
        )
        click.echo(f"shift {shift_id} moved")


@click.command("cancel-shift")
@click.option("--shift", "shift_id", required=True, type=int, help="Shift id.")
def cancel_shift_cmd(shift_id: int) -> None:
    """Cancel a shift; everyone signed up or waitlisted is told once.

    \b
    Example:
      handsup cancel-shift --shift 12
    """
    settings = load_settings()
    with database(settings) as session:
        shift, community = find_shift(session, shift_id)
        told = rosters.cancel_shift(session, shift, community, clock.now())
    outbox.hand_over(settings)
    click.echo(f"shift {shift_id} cancelled; {told} volunteer(s) told")


ROSTER_LABELS = {
    AssignmentStatus.CONFIRMED: "confirmed",
    AssignmentStatus.WAITLISTED: "waitlisted",
    AssignmentStatus.DROPPED: "dropped",
    AssignmentStatus.CHECKED_IN: "checked in",
    AssignmentStatus.CHECKED_OUT: "checked out",
    AssignmentStatus.NO_SHOW: "no-show",
}


@click.command("roster")
@click.option("--shift", "shift_id", required=True, type=int, help="Shift id.")
def roster_cmd(shift_id: int) -> None:
    """Print the shift's roster as CSV: name,phone,status,hours.

    \b
    Example:
      handsup roster --shift 12 > roster.csv
    """
    with database() as session:
        find_shift(session, shift_id)
        rows = session.execute(
            select(Volunteer.name, Volunteer.phone, Assignment.status, Assignment.minutes_served)
            .join(Volunteer, Volunteer.id == Assignment.volunteer_id)
            .where(Assignment.shift_id == shift_id)
            .order_by(Assignment.created_at, Assignment.id)
        ).all()
    writer = csv.writer(sys.stdout)
    writer.writerow(["name", "phone", "status", "hours"])
    for name, phone, status, minutes in rows:
        hours = rosters.format_hours(minutes) if minutes is not None else ""
        writer.writerow([neutralize(name or ""), phone, ROSTER_LABELS[status], hours])


@click.command("attendance")
@click.option("--shift", "shift_id", required=True, type=int, help="Shift id.")
@click.option("--phone", required=True, help="The volunteer's number.")
@click.option(
    "--status",
    "status_name",
    required=True,
    type=click.Choice(["confirmed", "checked_in", "checked_out", "no_show"]),
)
@click.option("--hours", type=float, default=None, help="Hours served (for checked_out).")
def attendance_cmd(shift_id: int, phone: str, status_name: str, hours: float | None) -> None:
    """Correct a volunteer's attendance on a shift (e.g. a no-show who did come).

    \b
    Example:
      handsup attendance --shift 12 --phone 2025550111 --status checked_out --hours 3.5
    """
    with database() as session:
        _shift, community = find_shift(session, shift_id)
        e164 = to_e164(phone, community.country)
        assignment = session.scalar(
            select(Assignment)
            .join(Volunteer, Volunteer.id == Assignment.volunteer_id)
            .where(Assignment.shift_id == shift_id, Volunteer.phone == e164)
        )
        if assignment is None:
            raise click.ClickException(f"{e164} is not on shift {shift_id}")
        minutes = round(hours * 60) if hours is not None else None
        rosters.set_attendance(session, assignment, AssignmentStatus(status_name), minutes)
        click.echo(f"{e164} on shift {shift_id}: {status_name}")


@click.command("call-out")
@click.option("--shift", "shift_id", required=True, type=int, help="Shift id.")
@click.option("--need", required=True, type=int, help="How many people are needed now.")
@click.option("--text", default="", help="Extra words for the ask (kept short).")
def call_out_cmd(shift_id: int, need: int, text: str) -> None:
    """Urgent call-out: ask qualified volunteers in waves; YES replies fill places.

    \b
    Example:
      handsup call-out --shift 12 --need 2 --text "Water in the hall"
    """
    settings = load_settings()
    with database(settings) as session:
        shift, community = find_shift(session, shift_id)
        callout = callouts.start_callout(session, shift, community, need, text, clock.now())
        asked = session.scalar(
            select(func.count()).select_from(CallOutAsk).where(CallOutAsk.callout_id == callout.id)
        )
    outbox.hand_over(settings)
    click.echo(f"call-out {callout.id}: asked {asked} volunteer(s) for {need} place(s)")


COMMANDS: tuple[click.Command, ...] = (
    add_shift_cmd,
    move_shift_cmd,
    cancel_shift_cmd,
    roster_cmd,
    attendance_cmd,
    call_out_cmd,
)
