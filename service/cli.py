"""The ``handsup`` command line: one console script reading the same environment as the app.

Every command has ``--help`` and exits non-zero with a one-line reason on bad input. The
worker is started by dotted path, so ``service`` still never imports ``workers``.
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import click
from rq.utils import import_attribute
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import clock, migrate
from service.communities import audit
from service.communities.accounts import (
    AccountError,
    create_coordinator,
    find_coordinator,
    reset_two_factor,
    set_password,
)
from service.communities.demo import seed_demo
from service.communities.export import export_zip
from service.communities.registry import CommunityError, create_community, find_community
from service.communities.settings import SettingsError, parse_retention
from service.config import ConfigError, Settings, database_url_from_env
from service.conversations.inbound import InboundMessage, handle_inbound
from service.db import make_engine, make_session_factory, unit_of_work
from service.models import (
    Assignment,
    AssignmentStatus,
    CallOutAsk,
    ChannelKind,
    Community,
    Cycle,
    CycleNeed,
    MessageStatus,
    Need,
    Pledge,
    PledgeStatus,
    Role,
    Shift,
    Volunteer,
)
from service.redis_conn import (
    EmbeddedRedis,
    announce,
    free_port,
    withdraw,
)
from service.rosters import callouts, donations
from service.rosters import shifts as rosters
from service.sending import outbox
from service.sending.broadcasts import BroadcastError, Segment, preview_broadcast, queue_broadcast
from service.sending.delivery import message_log
from service.sending.gate import TEMPLATE_KINDS
from service.sending.pacing import default_rate
from service.volunteers.import_export import (
    ImportFileError,
    export_volunteers,
    import_volunteers,
    neutralize,
)
from service.volunteers.phones import InvalidPhoneNumber, mask, to_e164

RUN_WORKER = "workers.worker.run_worker"
USER_ERRORS = (
    donations.DonationError,
    rosters.RosterError,
    ConfigError,
    CommunityError,
    AccountError,
    BroadcastError,
    ImportFileError,
    InvalidPhoneNumber,
)


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def database(settings: Settings | None = None) -> Iterator[Session]:
    """A unit of work on the configured database; user errors become one-line exits."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            yield session
    except USER_ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """HandsUp: volunteer rosters over SMS and WhatsApp."""


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply migrations to DATABASE_URL (the Procfile's release step)."""
    url = database_url_from_env()
    try:
        migrate.upgrade(url, revision)
    except Exception as exc:  # alembic raises many types; report one line, non-zero
        raise click.ClickException(f"migration failed: {exc}") from exc
    click.echo(f"database at revision {revision}")


@main.command("create-community")
@click.option("--name", required=True, help="Display name, used in texts.")
@click.option("--slug", required=True, help="Short id: lowercase letters, digits, dashes.")
@click.option("--number", required=True, help="The community's Twilio SMS number (E.164).")
@click.option("--whatsapp-number", default=None, help="WhatsApp sender number (E.164).")
@click.option("--country", required=True, help="ISO country code for local numbers, e.g. US.")
@click.option("--timezone", required=True, help="IANA time zone, e.g. America/New_York.")
@click.option("--help-contact", default="", help="How to reach a coordinator (shown in HELP).")
def create_community_cmd(
    name: str,
    slug: str,
    number: str,
    whatsapp_number: str | None,
    country: str,
    timezone: str,
    help_contact: str,
) -> None:
    """Create a community with its SMS (and optional WhatsApp) channel."""
    with database() as session:
        community = create_community(
            session,
            name=name,
            slug=slug,
            number=number,
            whatsapp_number=whatsapp_number,
            country=country,
            timezone=timezone,
            help_contact=help_contact,
        )
        click.echo(f"created community {community.slug} (id {community.id})")


@main.command("create-coordinator")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--email", required=True)
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.COORDINATOR.value,
    show_default=True,
)
def create_coordinator_cmd(slug: str, email: str, role: str) -> None:
    """Create a coordinator login; the password is read from stdin."""
    password = sys.stdin.readline().rstrip("\r\n")
    with database() as session:
        community = find_community(session, slug)
        coordinator = create_coordinator(
            session, community=community, email=email, password=password, role=Role(role)
        )
        audit.record(
            session,
            community_id=community.id,
            actor=None,
            action="added coordinator",
            subject=f"coordinator:{coordinator.id}",
            role=role,
        )
        click.echo(f"{email} is {role} of {slug}")


@main.command("set-password")
@click.option("--email", required=True, help="The coordinator's email.")
@click.option(
    "--reset-two-factor",
    "forget_authenticator",
    is_flag=True,
    help="Also forget their authenticator app (a lost phone); they may enrol a new one.",
)
def set_password_cmd(email: str, forget_authenticator: bool) -> None:
    """Set or reset a coordinator's password (read from stdin); signs out their sessions."""
    password = sys.stdin.readline().rstrip("\r\n")
    with database() as session:
        coordinator = find_coordinator(session, email)
        set_password(coordinator, password)
        if forget_authenticator:
            reset_two_factor(coordinator)
        click.echo(f"password set for {coordinator.email}; their console sessions are signed out")


@main.command("export-community")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="FILE.zip")
def export_community_cmd(slug: str, out_path: str) -> None:
    """Everything the community holds, as community.json plus a CSV per table, in a ZIP."""
    with database() as session:
        community = find_community(session, slug)
        archive = export_zip(session, community, clock.now())
        audit.record(session, community_id=community.id, actor=None, action="exported community")
    Path(out_path).write_bytes(archive)
    click.echo(f"wrote {out_path} ({len(archive)} bytes)")


@main.command("import-volunteers")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
def import_volunteers_cmd(slug: str, file: TextIO) -> None:
    """Import name,phone[,language,skills] rows; the importer attests consent."""
    with database() as session:
        community = find_community(session, slug)
        report = import_volunteers(
            session, community, file, source=f"import:{Path(file.name).name}", now=clock.now()
        )
    click.echo(
        f"imported {report.created} new, updated {report.updated}, rejected {len(report.errors)}"
    )
    for error in report.errors:
        click.echo(str(error), err=True)
    if report.errors:
        sys.exit(1)


@main.command("export-volunteers")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option(
    "--out",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Output file (default: stdout).",
)
def export_volunteers_cmd(slug: str, out: TextIO) -> None:
    """Export volunteers as CSV, with status (active, paused, opted_out)."""
    with database() as session:
        export_volunteers(session, find_community(session, slug), out)


@main.command("broadcast")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--text", required=True, help="The message (the community name is prefixed).")
@click.option("--skill", default=None, help="Only volunteers with this skill.")
@click.option("--language", default=None, help="Only volunteers with this language.")
@click.option(
    "--roster", "roster_id", type=int, default=None, help="Only volunteers booked on this roster."
)
@click.option("--dry-run", is_flag=True, help="Show recipients, encoding and segments only.")
def broadcast_cmd(
    slug: str,
    text: str,
    skill: str | None,
    language: str | None,
    roster_id: int | None,
    dry_run: bool,
) -> None:
    """Queue a text to every active volunteer (opted-out ones are never included)."""
    settings = load_settings()
    with database(settings) as session:
        community = find_community(session, slug)
        if dry_run:
            segment = Segment(skill=skill, language=language, roster_id=roster_id)
            preview = preview_broadcast(session, community, text, segment)
            for row in preview.languages:
                click.echo(
                    f"{row.language}: {row.recipients} recipient(s), {row.encoding}, "
                    f"{row.segments} segment(s) each"
                )
            click.echo(f"total: {preview.recipients} recipient(s), {preview.segments} segment(s)")
            return
        count = queue_broadcast(
            session,
            community,
            text,
            skill=skill,
            language=language,
            roster_id=roster_id,
            created_by="cli",
        )
    outbox.hand_over(settings)
    click.echo(f"queued {count} message(s)")


@main.command("sending-settings")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option(
    "--messaging-service-sid",
    default=None,
    help="Send SMS through this Twilio Messaging Service (MG...); 'none' to use the number.",
)
@click.option(
    "--whatsapp-template",
    "templates",
    multiple=True,
    help="KIND=HX... Content SID used outside the 24 h window (kind or 'default'); "
    "KIND= removes one.",
)
@click.option("--sms-rate", type=float, default=None, help="SMS messages per second (0: default).")
@click.option(
    "--whatsapp-rate", type=float, default=None, help="WhatsApp messages per second (0: default)."
)
def sending_settings_cmd(
    slug: str,
    messaging_service_sid: str | None,
    templates: tuple[str, ...],
    sms_rate: float | None,
    whatsapp_rate: float | None,
) -> None:
    """Show or change how the community sends: Messaging Service, templates, rates."""
    with database() as session:
        community = find_community(session, slug)
        if messaging_service_sid is not None:
            sid = messaging_service_sid.strip()
            if sid.lower() == "none":
                community.messaging_service_sid = None
            elif not re.fullmatch(r"MG[0-9a-fA-F]{32}", sid):
                raise click.ClickException("--messaging-service-sid must look like MG + 32 hex")
            else:
                community.messaging_service_sid = sid
        chosen = dict(community.whatsapp_templates or {})
        for entry in templates:
            kind, _, content_sid = entry.partition("=")
            kind, content_sid = kind.strip().lower(), content_sid.strip()
            if kind not in TEMPLATE_KINDS:
                raise click.ClickException(
                    f"--whatsapp-template kind {kind!r} is not one of {', '.join(TEMPLATE_KINDS)}"
                )
            if not content_sid:
                chosen.pop(kind, None)
            elif not re.fullmatch(r"HX[0-9a-fA-F]{32}", content_sid):
                raise click.ClickException("--whatsapp-template SID must look like HX + 32 hex")
            else:
                chosen[kind] = content_sid
        community.whatsapp_templates = chosen
        for kind, rate in ((ChannelKind.SMS, sms_rate), (ChannelKind.WHATSAPP, whatsapp_rate)):
            if rate is None:
                continue
            if rate < 0 or rate > 1000:
                raise click.ClickException("a rate must be from 0 to 1000 messages per second")
            channel = community.channel(kind)
            if channel is None:
                raise click.ClickException(f"{slug} has no {kind.value} number")
            channel.rate_per_second = rate or None
        click.echo(f"{slug}: messaging service {community.messaging_service_sid or 'none'}")
        for channel in community.channels:
            pace = default_rate(channel.kind, channel.address, channel.rate_per_second)
            click.echo(f"{channel.kind.value} {channel.address}: {pace.per_second:g}/s")
        for kind, content_sid in sorted(chosen.items()):
            click.echo(f"whatsapp template {kind}: {content_sid}")


@main.command("messages")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in MessageStatus]),
    default=None,
    help="Only messages with this status, e.g. failed.",
)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, help="How many (50).")
def messages_cmd(slug: str, status: str | None, limit: int) -> None:
    """The outbound message log, newest first, as CSV (numbers masked)."""
    with database() as session:
        community = find_community(session, slug)
        writer = csv.writer(sys.stdout)
        writer.writerow(
            ["id", "created_at", "kind", "to", "status", "segments", "decision", "error"]
        )
        for message in message_log(session, community, status=status, limit=limit):
            writer.writerow(
                [
                    message.id,
                    message.created_at.isoformat(timespec="seconds"),
                    message.kind,
                    mask(message.to_address.removeprefix("whatsapp:")),
                    message.status.value,
                    message.segments,
                    message.decision or "",
                    message.error_message or "",
                ]
            )


def parse_moment(option: str, raw: str, community: Community) -> datetime:
    """ISO 8601; a time without an offset is in the community's time zone."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise click.ClickException(f"{option} {raw!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(community.timezone))
    return moment.astimezone(UTC)


def local_today(community: Community) -> date:
    return clock.now().astimezone(ZoneInfo(community.timezone)).date()


def find_shift(session: Session, shift_id: int) -> tuple[Shift, Community]:
    shift = session.get(Shift, shift_id)
    if shift is None:
        raise click.ClickException(f"no shift with id {shift_id}")
    return shift, session.get_one(Community, shift.community_id)


@main.command("add-shift")
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
    """Add a shift to the community's roster; prints the new shift's id."""
    with database() as session:
        community = find_community(session, slug)
        shift = rosters.add_shift(
            session,
            community,
            title=title,
            place=place,
            starts_at=parse_moment("--starts", starts, community),
            ends_at=parse_moment("--ends", ends, community),
            capacity=capacity,
            skill=skill,
        )
        click.echo(shift.id)


@main.command("move-shift")
@click.option("--shift", "shift_id", required=True, type=int, help="Shift id.")
@click.option("--starts", required=True, help="New ISO 8601 start.")
@click.option("--ends", required=True, help="New ISO 8601 end.")
def move_shift_cmd(shift_id: int, starts: str, ends: str) -> None:
    """Change a shift's time; reminders are planned again for the new time."""
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


@main.command("cancel-shift")
@click.option("--shift", "shift_id", required=True, type=int, help="Shift id.")
def cancel_shift_cmd(shift_id: int) -> None:
    """Cancel a shift; everyone signed up or waitlisted is told once."""
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


@main.command("roster")
@click.option("--shift", "shift_id", required=True, type=int, help="Shift id.")
def roster_cmd(shift_id: int) -> None:
    """Print the shift's roster as CSV: name,phone,status,hours."""
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


@main.command("attendance")
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
    """Correct a volunteer's attendance on a shift (e.g. a no-show who did come)."""
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


@main.command("call-out")
@click.option("--shift", "shift_id", required=True, type=int, help="Shift id.")
@click.option("--need", required=True, type=int, help="How many people are needed now.")
@click.option("--text", default="", help="Extra words for the ask (kept short).")
def call_out_cmd(shift_id: int, need: int, text: str) -> None:
    """Urgent call-out: ask qualified volunteers in waves; YES replies fill places."""
    settings = load_settings()
    with database(settings) as session:
        shift, community = find_shift(session, shift_id)
        callout = callouts.start_callout(session, shift, community, need, text, clock.now())
        asked = session.scalar(
            select(func.count()).select_from(CallOutAsk).where(CallOutAsk.callout_id == callout.id)
        )
    outbox.hand_over(settings)
    click.echo(f"call-out {callout.id}: asked {asked} volunteer(s) for {need} place(s)")


def parse_clock(option: str, raw: str) -> int:
    """``21:00`` → minutes after midnight."""
    try:
        hours, minutes = (int(part) for part in raw.strip().split(":"))
    except ValueError:
        raise click.ClickException(f"{option} {raw!r} is not HH:MM") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise click.ClickException(f"{option} {raw!r} is not a time of day")
    return hours * 60 + minutes


def parse_offsets(raw: str) -> list[int]:
    """``24h,2h,30m`` → minutes before the shift, largest first."""
    offsets = []
    for part in raw.split(","):
        text = part.strip().lower()
        unit = {"h": 60, "m": 1, "d": 1440}.get(text[-1:]) if text else None
        if unit is None or not text[:-1].isdigit() or not 0 < int(text[:-1]) * unit <= 7 * 1440:
            raise click.ClickException(
                f"--reminders {part.strip()!r}: use amounts like 24h, 2h, 30m (at most 7 days)"
            )
        offsets.append(int(text[:-1]) * unit)
    return sorted(set(offsets), reverse=True)


@main.command("community-settings")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--quiet-start", default=None, help="Quiet hours start, HH:MM local (21:00).")
@click.option("--quiet-end", default=None, help="Quiet hours end, HH:MM local (08:00).")
@click.option(
    "--ask-limit",
    type=click.IntRange(0, 50),
    default=None,
    help="Most asks and call-outs per volunteer per week (3).",
)
@click.option("--reminders", default=None, help="Shift reminder offsets, e.g. 24h,2h.")
@click.option(
    "--retention-days",
    default=None,
    help="Delete message texts older than N days (rows and counts stay); 'off' keeps them.",
)
def community_settings_cmd(
    slug: str,
    quiet_start: str | None,
    quiet_end: str | None,
    ask_limit: int | None,
    reminders: str | None,
    retention_days: str | None,
) -> None:
    """Show or change quiet hours, ask limit, shift reminders and message retention."""
    with database() as session:
        community = find_community(session, slug)
        if quiet_start is not None:
            community.quiet_start_minute = parse_clock("--quiet-start", quiet_start)
        if quiet_end is not None:
            community.quiet_end_minute = parse_clock("--quiet-end", quiet_end)
        if ask_limit is not None:
            community.ask_limit_per_week = ask_limit
        if retention_days is not None:
            try:
                community.retention_days = parse_retention(retention_days, "--retention-days")
            except SettingsError as exc:
                raise click.ClickException(f"--retention-days: {exc}") from None
        roster = rosters.shifts_roster(session, community)
        if reminders is not None:
            roster.reminder_offsets = parse_offsets(reminders)
        start, end = community.quiet_start_minute, community.quiet_end_minute
        offsets = ",".join(
            f"{m // 60}h" if m % 60 == 0 else f"{m}m" for m in roster.reminder_offsets
        )
        click.echo(
            f"{slug}: quiet hours {start // 60:02d}:{start % 60:02d}-{end // 60:02d}:"
            f"{end % 60:02d}, ask limit {community.ask_limit_per_week}/week, "
            f"reminders {offsets or 'none'} before each shift, texts kept "
            + (f"{community.retention_days} days" if community.retention_days else "forever")
        )


@main.command("add-need")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--cycle-day", required=True, help="Drop-off weekday, e.g. saturday.")
@click.option("--item", required=True, help="What is needed, e.g. Rice.")
@click.option("--quantity", required=True, type=int, help="How much each cycle.")
@click.option("--unit", default="", help="Unit, e.g. kg, L, people.")
def add_need_cmd(slug: str, cycle_day: str, item: str, quantity: int, unit: str) -> None:
    """Add a need to the community's weekly donation cycle; prints the need's id."""
    with database() as session:
        community = find_community(session, slug)
        need = donations.add_need(
            session,
            community,
            weekday=donations.parse_weekday(cycle_day),
            item=item,
            quantity=quantity,
            unit=unit,
        )
        click.echo(need.id)


@main.command("needs")
@click.option("--community", "slug", required=True, help="Community slug.")
def needs_cmd(slug: str) -> None:
    """Print the next cycle's coverage as CSV: item,target,pledged,delivered,unit."""
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


@main.command("donation-settings")
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
    """Show or change the donation cycle: day, place, window, reminder and gap-ask times."""
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
        day = (
            f"every {schedule.every_days} days from {schedule.anchor}"
            if schedule.every_days
            else f"every {donations.WEEKDAYS[schedule.weekday or 0].title()}"
        )
        click.echo(
            f"{slug}: {day}, {donations.window_text(schedule)} at {schedule.place or '(no place)'}"
            f"; reminder the day before at {schedule.reminder_minute // 60:02d}:"
            f"{schedule.reminder_minute % 60:02d}; gap asks {schedule.gap_ask_hours}h before"
        )


@main.command("mark-pledge")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--phone", required=True, help="The volunteer's number.")
@click.option("--item", required=True, help="The need's item.")
@click.option("--status", "status_name", required=True, type=click.Choice(["delivered", "missed"]))
def mark_pledge_cmd(slug: str, phone: str, item: str, status_name: str) -> None:
    """Mark a volunteer's pledge in the current cycle delivered or missed."""
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


@main.command("simulate")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--from", "sender", required=True, help="Your phone number (E.164 or local).")
def simulate_cmd(slug: str, sender: str) -> None:
    """Text the service from this terminal; an empty line or Ctrl-D quits."""
    settings = load_settings()
    with database(settings) as session:
        community = find_community(session, slug)
        phone = to_e164(sender, community.country)
        simulator = community.channel(ChannelKind.SIMULATOR)
        if simulator is None:
            raise click.ClickException(f"{slug} has no simulator channel")
        address, name = simulator.address, community.name
    click.echo(f"Texting {name} as {phone}. Empty line to quit.")
    for line in _prompt_lines():
        with database(settings) as session:
            result = handle_inbound(
                session,
                InboundMessage(
                    f"SIM{secrets.token_hex(16)}", ChannelKind.SIMULATOR, phone, address, line
                ),
                clock.now(),
            )
        for reply in result.replies or ("(no reply)",):
            click.echo(f"< {reply}")


def _prompt_lines() -> Iterator[str]:
    while True:
        try:
            line = input("> ") if sys.stdin.isatty() else sys.stdin.readline()
        except EOFError:
            return
        if not line.strip():
            return
        yield line.strip()


@main.command("demo")
def demo_cmd() -> None:
    """Seed a demo community, coordinator and volunteers (safe to run twice)."""
    with database() as session:
        login = seed_demo(session)
        slug = login.community.slug
    state = "created" if login.created else "already present"
    click.echo(f"demo community '{slug}' {state}; login {login.email} / {login.password}")


@main.command("worker")
@click.option("--burst", is_flag=True, help="Run until the queues are empty, then exit.")
def worker_cmd(burst: bool) -> None:
    """Run an RQ worker with the scheduler and the outbox pump."""
    settings = load_settings()
    run: Callable[..., bool] = import_attribute(RUN_WORKER)
    run(settings, burst=burst)


@main.command("dev")
@click.option("--port", default=None, type=int, help="Web port (default: PORT or 5000).")
def dev_cmd(port: int | None) -> None:
    """Local all-in-one (make run): migrate, seed, embedded Redis, web and worker."""
    os.environ.setdefault("HANDSUP_ENV", "development")
    settings = load_settings()
    web_port = port or settings.port
    migrate.upgrade(settings.database_url)
    with database(settings) as session:
        login = seed_demo(session)
        slug = login.community.slug
    embedded: EmbeddedRedis | None = None
    env = dict(os.environ)
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.instance_path / "redis", port=free_port())
        env["REDIS_URL"] = embedded.url
        announce(settings.instance_path, embedded.url)
    signal.signal(signal.SIGTERM, _interrupt)  # a PaaS or a terminal closing: stop cleanly
    children = _start_children(env, web_port)
    base = f"http://127.0.0.1:{web_port}"
    click.echo(
        f"\nHandsUp is running.\n"
        f"  Console:    {base}/console/\n"
        f"  Simulator:  {base}/simulator/?community={slug}\n"
        f"  Health:     {base}/healthz   Ready: {base}/readyz\n"
        f"  Demo login: {login.email} / {login.password}\n"
        f"  Redis:      {env.get('REDIS_URL')}\n"
        f"Press Ctrl-C to stop.\n"
    )
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        raise click.ClickException("a child process exited; stopping")
    except KeyboardInterrupt:
        click.echo("stopping...")
    finally:
        _stop(children)
        if embedded is not None:
            withdraw(settings.instance_path)
            embedded.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_children(env: dict[str, str], port: int) -> list[subprocess.Popen[Any]]:
    web = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--access-logfile",
        "-",
        "service.app:create_app()",
    ]
    worker = [sys.executable, "-m", "service.cli", "worker"]
    return [subprocess.Popen(cmd, env=env) for cmd in (web, worker)]  # noqa: S603


def _stop(children: list[subprocess.Popen[Any]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    main()
