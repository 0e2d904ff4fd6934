"""Create and find communities and their channels (used by the CLI, the demo and tests)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import Channel, ChannelKind, Community
from service.volunteers.phones import to_e164

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,58}[a-z0-9]$|^[a-z0-9]$")


class CommunityError(ValueError):
    """Bad input for a community; the message says which field and why."""


def create_community(
    session: Session,
    *,
    name: str,
    slug: str,
    number: str,
    country: str,
    timezone: str,
    whatsapp_number: str | None = None,
    help_contact: str = "",
) -> Community:
    """Validate and add a community with its SMS, simulator and optional WhatsApp channels."""
    name = name.strip()
    if not name or len(name) > 120:
        raise CommunityError("--name must be 1 to 120 characters")
    if not SLUG_PATTERN.match(slug):
        raise CommunityError("--slug must be lowercase letters, digits and dashes (max 60)")
    country = country.strip().upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        raise CommunityError(f"--country {country!r} is not an ISO 3166 country code")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: 'America' is a directory
        raise CommunityError(f"--timezone {timezone!r} is not an IANA time zone") from None
    sms = _number("--number", number, country)
    whatsapp = _number("--whatsapp-number", whatsapp_number, country) if whatsapp_number else None
    if session.scalar(select(Community).where(Community.slug == slug)):
        raise CommunityError(f"a community with slug {slug!r} already exists")
    wanted = [(ChannelKind.SMS, sms), (ChannelKind.SIMULATOR, sms)]
    if whatsapp:
        wanted.append((ChannelKind.WHATSAPP, whatsapp))
    for kind, address in wanted:
        taken = session.scalar(
            select(Channel).where(Channel.kind == kind, Channel.address == address)
        )
        if taken is not None:
            raise CommunityError(f"{address} is already used by another community ({kind})")
    community = Community(
        name=name, slug=slug, country=country, timezone=timezone, help_contact=help_contact
    )
    community.channels = [Channel(kind=kind, address=address) for kind, address in wanted]
    session.add(community)
    session.flush()
    return community


def find_community(session: Session, slug: str) -> Community:
    community = session.scalar(select(Community).where(Community.slug == slug))
    if community is None:
        raise CommunityError(f"no community with slug {slug!r}")
    return community


def _number(option: str, raw: str, country: str) -> str:
    try:
        return to_e164(raw, country)
    except ValueError as exc:
        raise CommunityError(f"{option}: {exc}") from None
