"""Sending commands: broadcast, sending settings, the message log, the terminal simulator, the
WhatsApp content templates.

May import ``service`` (never ``workers``) and click.
"""

from __future__ import annotations

import csv
import re
import secrets
import sys
from collections.abc import Iterator

import click
from sqlalchemy import select
from twilio.base.exceptions import TwilioRestException

from service import clock
from service.cli.common import database, load_settings
from service.communities.registry import find_community
from service.conversations.inbound import InboundMessage, handle_inbound
from service.models import Channel, ChannelKind, Community, MessageStatus
from service.sending import outbox
from service.sending.broadcasts import Segment, preview_broadcast, queue_broadcast
from service.sending.delivery import message_log
from service.sending.gate import TEMPLATE_KINDS
from service.sending.interactive import sync_contents
from service.sending.pacing import default_rate
from service.sending.twilio_api import twilio_client
from service.volunteers.phones import mask, to_e164


@click.command("broadcast")
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
    """Queue a text to every active volunteer (opted-out ones are never included).

    \b
    Example:
      handsup broadcast --community riverside --text "Sandbags at the school at noon" \\
        --dry-run
    """
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


@click.command("sending-settings")
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
    """Show or change how the community sends: Messaging Service, templates, rates.

    \b
    Example:
      handsup sending-settings --community riverside --sms-rate 1 \\
        --whatsapp-template reminder=HX0123456789abcdef0123456789abcdef
    """
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


@click.command("messages")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in MessageStatus]),
    default=None,
    help="Only messages with this status, e.g. failed.",
)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, help="How many (50).")
def messages_cmd(slug: str, status: str | None, limit: int) -> None:
    """The outbound message log, newest first, as CSV (numbers masked).

    \b
    Example:
      handsup messages --community riverside --status failed --limit 20
    """
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


@click.command("simulate")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--from", "sender", required=True, help="Your phone number (E.164 or local).")
def simulate_cmd(slug: str, sender: str) -> None:
    """Text the service from this terminal; an empty line or Ctrl-D quits.

    \b
    Example:
      handsup simulate --community riverside --from 2025550177
    """
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


@click.group("whatsapp-templates")
def whatsapp_templates_group() -> None:
    """Content templates for interactive WhatsApp messages (menus as lists, YES / NO buttons)."""


@whatsapp_templates_group.command("sync")
@click.option(
    "--community",
    "slug",
    default=None,
    help="Only this community (default: every community with a WhatsApp number).",
)
def whatsapp_templates_sync_cmd(slug: str | None) -> None:
    """Create the content templates interactive WhatsApp messages need, once per community
    and language, through Twilio's Content API, and store their SIDs. Idempotent: a second
    run creates nothing (a template an interrupted run created is found by its name).

    \b
    Example:
      handsup whatsapp-templates sync --community riverside
    """
    settings = load_settings()
    if not settings.twilio_enabled:
        raise click.ClickException(
            "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set to create WhatsApp templates"
        )
    api = twilio_client(settings).content.v1.contents
    with database(settings) as session:
        if slug is not None:
            communities = [find_community(session, slug)]
        else:
            communities = list(session.scalars(select(Community).order_by(Community.id)))
        with_whatsapp = set(
            session.scalars(
                select(Channel.community_id).where(Channel.kind == ChannelKind.WHATSAPP)
            )
        )
        for community in communities:
            if community.id not in with_whatsapp:
                click.echo(f"{community.slug}: no WhatsApp number, nothing to create")
                continue
            try:
                report = sync_contents(session, community, api, clock.now())
            except TwilioRestException as exc:
                raise click.ClickException(
                    f"{community.slug}: Twilio refused a template ({exc.status}, code "
                    f"{exc.code}): {exc.msg}"
                ) from None
            except OSError as exc:
                raise click.ClickException(f"cannot reach Twilio's Content API: {exc}") from None
            click.echo(
                f"{community.slug}: {report.created} created, {report.adopted} found at "
                f"Twilio, {report.kept} already stored"
            )


COMMANDS: tuple[click.Command, ...] = (
    broadcast_cmd,
    sending_settings_cmd,
    messages_cmd,
    simulate_cmd,
    whatsapp_templates_group,
)
