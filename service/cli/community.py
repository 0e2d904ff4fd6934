"""Community commands: create it and its coordinators, its settings, export, the demo seed.

May import ``service`` (never ``workers``) and click.
"""

from __future__ import annotations

from pathlib import Path

import click

from flows.dates import clock_for
from service import clock
from service.cli.common import database, parse_clock, read_password
from service.communities import audit
from service.communities.accounts import (
    create_coordinator,
    find_coordinator,
    find_existing,
    reset_two_factor,
    set_password,
)
from service.communities.demo import seed_demo
from service.communities.export import export_zip
from service.communities.registry import create_community, find_community
from service.communities.settings import (
    SettingsError,
    parse_clock_format,
    parse_language,
    parse_retention,
)
from service.coordinators import phones as coordinator_phones
from service.models import Role
from service.rosters import shifts as rosters
from service.volunteers.phones import mask


@click.command("create-community")
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
    """Create a community with its SMS (and optional WhatsApp) channel.

    \b
    Example:
      handsup create-community --name "Riverside Mutual Aid" --slug riverside \\
        --number +12025550143 --country US --timezone America/New_York
    """
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


@click.command("create-coordinator")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--email", required=True)
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.COORDINATOR.value,
    show_default=True,
)
@click.option(
    "--phone",
    default=None,
    metavar="E164",
    help="The coordinator's own phone: its texts to the community run coordinator commands.",
)
def create_coordinator_cmd(slug: str, email: str, role: str, phone: str | None) -> None:
    """Create a coordinator login; the password is read from stdin.

    With --phone, the operator registers (and so verifies) the coordinator's phone for this
    community: texts from it are read as coordinator commands first (TODAY, WHO, CALLOUT,
    SAY, NEEDS, HELP).

    \b
    Example:
      handsup create-coordinator --community riverside --email ana@example.org
      (asks for the password twice; or pipe it: ... < password.txt)
      handsup create-coordinator --community riverside --email ana@example.org \\
        --phone +12025550123
    """
    password = read_password()
    with database() as session:
        community = find_community(session, slug)
        existed = find_existing(session, email)
        coordinator = create_coordinator(
            session,
            community=community,
            email=email,
            password=password,
            role=Role(role),
            verified=True,  # the operator attests the email
        )
        audit.record(
            session,
            community_id=community.id,
            actor=None,
            action="added coordinator",
            subject=f"coordinator:{coordinator.id}",
            role=role,
            new_account=not existed,
            email_verified=True,
        )
        if phone is not None:
            row = coordinator_phones.set_verified(
                session, coordinator, community, phone, clock.now()
            )
            audit.record(
                session,
                community_id=community.id,
                actor=None,
                action="registered coordinator phone",
                subject=f"coordinator:{coordinator.id}",
                phone=mask(row.phone),
            )
        click.echo(f"{email} is {role} of {slug}")
        if phone is not None:
            click.echo(f"{email} runs {slug} by text from {mask(row.phone)}")


@click.command("set-password")
@click.option("--email", required=True, help="The coordinator's email.")
@click.option(
    "--reset-two-factor",
    "forget_authenticator",
    is_flag=True,
    help="Also forget their authenticator app (a lost phone); they may enrol a new one.",
)
def set_password_cmd(email: str, forget_authenticator: bool) -> None:
    """Set or reset a coordinator's password (read from stdin); signs out their sessions.

    \b
    Example:
      handsup set-password --email ana@example.org --reset-two-factor
    """
    password = read_password()
    with database() as session:
        coordinator = find_coordinator(session, email)
        set_password(coordinator, password)
        if forget_authenticator:
            reset_two_factor(coordinator)
        click.echo(f"password set for {coordinator.email}; their console sessions are signed out")


@click.command("export-community")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="FILE.zip")
def export_community_cmd(slug: str, out_path: str) -> None:
    """Everything the community holds, as community.json plus a CSV per table, in a ZIP.

    \b
    Example:
      handsup export-community --community riverside --out riverside.zip
    """
    with database() as session:
        community = find_community(session, slug)
        archive = export_zip(session, community, clock.now())
        audit.record(session, community_id=community.id, actor=None, action="exported community")
    Path(out_path).write_bytes(archive)
    click.echo(f"wrote {out_path} ({len(archive)} bytes)")


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


@click.command("community-settings")
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
@click.option(
    "--clock",
    "clock_format",
    default=None,
    help="Times in texts: 12h, 24h, or 'country' for the country's habit.",
)
@click.option(
    "--default-language",
    default=None,
    help="Language a new number is answered in when its first text does not tell (en).",
)
def community_settings_cmd(
    slug: str,
    quiet_start: str | None,
    quiet_end: str | None,
    ask_limit: int | None,
    reminders: str | None,
    retention_days: str | None,
    clock_format: str | None,
    default_language: str | None,
) -> None:
    """Show or change quiet hours, ask limit, shift reminders, message retention, the clock
    texts use and the default language.

    \b
    Example:
      handsup community-settings --community riverside --quiet-start 21:30 \\
        --reminders 24h,2h
    """
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
        try:
            if clock_format is not None:
                community.clock = parse_clock_format(clock_format, "--clock") or None
            if default_language is not None:
                community.default_language = parse_language(default_language, "--default-language")
        except SettingsError as exc:
            raise click.ClickException(f"{exc.field}: {exc}") from None
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
        if clock_format is not None or default_language is not None:
            hours = clock_for(community.country, community.clock or "").value.removesuffix("h")
            habit = "" if community.clock else f" (as in {community.country})"
            click.echo(
                f"{slug}: texts in {community.default_language} when a first text does not "
                f"tell, times on the {hours}-hour clock{habit}"
            )


@click.command("demo")
def demo_cmd() -> None:
    """Seed a demo community, coordinator and volunteers (safe to run twice).

    \b
    Example:
      HANDSUP_ENV=development handsup demo
    """
    with database() as session:
        login = seed_demo(session)
        slug = login.community.slug
    state = "created" if login.created else "already present"
    click.echo(f"demo community '{slug}' {state}; login {login.email} / {login.password}")


COMMANDS: tuple[click.Command, ...] = (
    create_community_cmd,
    create_coordinator_cmd,
    set_password_cmd,
    export_community_cmd,
    community_settings_cmd,
    demo_cmd,
)
