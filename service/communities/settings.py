"""A community's settings: parse and validate them as typed text, read them, apply them.

Shared by the console's settings page and fit for the CLI's ``community-settings`` and
``sending-settings`` commands (same parsers, same limits). Validation collects one message per
field and applies nothing when any field is wrong. Imports models, ``service.rosters.shifts``
and ``flows.catalog`` (the shipped languages).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import catalog
from service.models import Community, Roster, RosterKind
from service.models.rosters import DEFAULT_REMINDER_OFFSETS
from service.rosters import shifts as rosters
from service.sending.gate import TEMPLATE_KINDS

ASK_LIMIT_MAX = 50
REMINDER_MAX_MINUTES = 7 * 1440
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
FLAGS = ("require_totp", "protect_numbers", "two_person_broadcasts")


class SettingsError(ValueError):
    """One bad value; ``field`` names the setting it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_timezone(raw: str, field: str = "timezone") -> str:
    name = raw.strip()
    if not name:
        raise SettingsError(field, "a time zone is required (like America/New_York)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: 'America' is a directory
        raise SettingsError(
            field, f"{name!r} is not an IANA time zone (like America/New_York)"
        ) from None
    return name


def parse_clock(raw: str, field: str = "quiet_start") -> int:
    """``21:00`` → minutes after midnight."""
    found = CLOCK.fullmatch(raw.strip())
    if found is None:
        raise SettingsError(field, f"{raw.strip()!r} is not a time like 21:00 (HH:MM)")
    hours, minutes = int(found.group(1)), int(found.group(2))
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise SettingsError(field, f"{raw.strip()!r} is not a time of day (00:00 to 23:59)")
    return hours * 60 + minutes


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_offsets(raw: str, field: str = "reminders") -> list[int]:
    """``24h, 2h, 30m`` → minutes before the shift, largest first; blank or ``none``: none."""
    text = raw.strip().lower()
    if text in ("", "none"):
        return []
    offsets = []
    for part in text.split(","):
        item = part.strip().replace(" ", "")
        unit = {"h": 60, "m": 1, "d": 1440}.get(item[-1:]) if item else None
        amount = item[:-1]
        if unit is None or not amount.isdigit() or not 0 < int(amount) * unit <= 7 * 1440:
            raise SettingsError(
                field, f"{part.strip()!r}: use amounts like 24h, 2h, 30m (at most 7 days)"
            )
        offsets.append(int(amount) * unit)
    return sorted(set(offsets), reverse=True)


def format_offsets(offsets: list[int]) -> str:
    return ", ".join(f"{m // 60}h" if m % 60 == 0 else f"{m}m" for m in offsets)


def parse_ask_limit(raw: str, field: str = "ask_limit_per_week") -> int:
    text = raw.strip()
    if not text.isdigit() or not 0 <= int(text) <= ASK_LIMIT_MAX:
        raise SettingsError(
            field, f"the weekly ask limit must be a whole number 0 to {ASK_LIMIT_MAX}"
        )
    return int(text)


RETENTION_MAX_DAYS = 3650


def parse_retention(raw: str, field: str = "retention_days") -> int | None:
    """Days to keep message texts; blank or "off": keep them."""
    text = raw.strip().lower()
    if text in ("", "off", "none"):
        return None
    if not text.isdigit() or not 1 <= int(text) <= RETENTION_MAX_DAYS:
        raise SettingsError(
            field, f"keep texts for a whole number of days, 1 to {RETENTION_MAX_DAYS}, or blank"
        )
    return int(text)


THRESHOLD_MAX = 100_000


def parse_threshold(raw: str, field: str = "two_person_threshold") -> int | None:
    """Recipients a broadcast may reach without approval; blank: the default (a quarter of the
    active volunteers, at most 50)."""
    text = raw.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > THRESHOLD_MAX:
        raise SettingsError(
            field, f"the approval threshold must be a whole number 0 to {THRESHOLD_MAX}, or blank"
        )
    return int(text)


CLOCK_CHOICES = ("", "12h", "24h")  # "": as the community's country writes times


def parse_clock_format(raw: str, field: str = "clock") -> str:
    """``12h`` / ``24h``; blank or ``country``: the country's habit ("")."""
    text = raw.strip().lower().replace(" ", "")
    if text in ("", "country", "auto"):
        return ""
    text = text if text.endswith("h") else f"{text}h"
    if text not in CLOCK_CHOICES:
        raise SettingsError(field, f"{raw.strip()!r}: use 12h, 24h, or blank for the country's")
    return text


def parse_language(raw: str, field: str = "default_language") -> str:
    """A shipped language code (``en``, ``es``, ``hi``); blank: English."""
    text = raw.strip().lower() or catalog.DEFAULT_LANGUAGE
    if text not in catalog.languages():
        shipped = "/".join(catalog.languages())
        raise SettingsError(field, f"{raw.strip()!r} is not a shipped language ({shipped})")
    return text


def parse_content_sid(raw: str, field: str) -> str | None:
    """A WhatsApp template Content SID (``HX`` + 32 hex); blank: none."""
    text = raw.strip()
    if not text:
        return None
    if not CONTENT_SID.fullmatch(text):
        raise SettingsError(field, f"{text!r} is not a Content SID (HX followed by 32 hex digits)")
    return text


@dataclass(frozen=True)
class CommunitySettings:
    """Every setting the console edits, as typed values."""

    timezone: str
    quiet_start_minute: int
    quiet_end_minute: int
    reminder_offsets: list[int]
    ask_limit_per_week: int
    whatsapp_templates: dict[str, str] = field(default_factory=dict)
    retention_days: int | None = None
    clock: str = ""  # "12h", "24h", or "" for the country's
    default_language: str = catalog.DEFAULT_LANGUAGE
    require_totp: bool = False
    protect_numbers: bool = False
    two_person_broadcasts: bool = False
    two_person_threshold: int | None = None

    def as_form(self) -> dict[str, str | bool]:
        """The values as the settings form shows them."""
        form: dict[str, str | bool] = {
            "timezone": self.timezone,
            "quiet_start": format_clock(self.quiet_start_minute),
            "quiet_end": format_clock(self.quiet_end_minute),
            "reminders": format_offsets(self.reminder_offsets),
            "ask_limit_per_week": str(self.ask_limit_per_week),
            "retention_days": "" if self.retention_days is None else str(self.retention_days),
            "clock": self.clock,
            "default_language": self.default_language,
            "two_person_threshold": (
                "" if self.two_person_threshold is None else str(self.two_person_threshold)
            ),
        }
        for kind in TEMPLATE_KINDS:
            form[f"template_{kind}"] = self.whatsapp_templates.get(kind, "")
        for flag in FLAGS:
            form[flag] = getattr(self, flag)
        return form


def _shifts_roster(session: Session, community: Community) -> Roster | None:
    return session.scalar(
        select(Roster)
        .where(Roster.community_id == community.id, Roster.kind == RosterKind.SHIFTS)
        .order_by(Roster.id)
    )


def current_settings(session: Session, community: Community) -> CommunitySettings:
    """The community's settings now (read only: no roster is created)."""
    roster = _shifts_roster(session, community)
    offsets = roster.reminder_offsets if roster is not None else DEFAULT_REMINDER_OFFSETS
    templates = {
        str(kind): str(sid) for kind, sid in (community.whatsapp_templates or {}).items() if sid
    }
    return CommunitySettings(
        timezone=community.timezone,
        quiet_start_minute=community.quiet_start_minute,
        quiet_end_minute=community.quiet_end_minute,
        reminder_offsets=list(offsets),
        ask_limit_per_week=community.ask_limit_per_week,
        whatsapp_templates=templates,
        retention_days=community.retention_days,
        clock=community.clock or "",
        default_language=community.default_language,
        require_totp=community.require_totp,
        protect_numbers=community.protect_numbers,
        two_person_broadcasts=community.two_person_broadcasts,
        two_person_threshold=community.two_person_threshold,
    )


def parse_form(form: Mapping[str, str]) -> tuple[CommunitySettings | None, dict[str, str]]:
    """Settings from a submitted form, or None and a message per bad field.

    Checkboxes count as on when present. Template kinds not in the form are left out (removed).
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}

    def take(name: str, parse: Any, *args: Any) -> Any:
        try:
            return parse(form.get(name, ""), *args)
        except SettingsError as exc:
            errors[exc.field] = str(exc)
            return None

    values["timezone"] = take("timezone", parse_timezone, "timezone")
    values["quiet_start_minute"] = take("quiet_start", parse_clock, "quiet_start")
    values["quiet_end_minute"] = take("quiet_end", parse_clock, "quiet_end")
    values["reminder_offsets"] = take("reminders", parse_offsets, "reminders")
    values["ask_limit_per_week"] = take("ask_limit_per_week", parse_ask_limit, "ask_limit_per_week")
    values["retention_days"] = take("retention_days", parse_retention, "retention_days")
    values["clock"] = take("clock", parse_clock_format, "clock")
    values["default_language"] = take("default_language", parse_language, "default_language")
    values["two_person_threshold"] = take("two_person_threshold", parse_threshold)
    templates: dict[str, str] = {}
    for kind in TEMPLATE_KINDS:
        name = f"template_{kind}"
        sid = take(name, parse_content_sid, name)
        if sid:
            templates[kind] = sid
    values["whatsapp_templates"] = templates
    for flag in FLAGS:
        values[flag] = bool(form.get(flag))
    if errors:
        return None, errors
    return CommunitySettings(**values), {}


def apply_settings(session: Session, community: Community, wanted: CommunitySettings) -> list[str]:
    """Write ``wanted`` to the community (and its shifts roster); the names of changed fields.

    The caller commits (and audits the change).
    """
    before = asdict(current_settings(session, community))
    after = asdict(wanted)
    changed = [name for name in after if before[name] != after[name]]
    for name in changed:
        if name == "reminder_offsets":
            rosters.shifts_roster(session, community).reminder_offsets = list(
                wanted.reminder_offsets
            )
        elif name == "whatsapp_templates":
            community.whatsapp_templates = dict(wanted.whatsapp_templates)
        elif name == "clock":
            community.clock = wanted.clock or None
        else:
            setattr(community, name, after[name])
    return changed
