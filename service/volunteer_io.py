"""CSV import and export of a community's volunteers.

Import: ``name,phone[,language,skills,availability]``; numbers parsed with the community's
country; good rows import, each bad row is reported by line number and reason. The importer
attests consent. An opted-out volunteer stays opted out whatever the file says.
Export: every volunteer with status; cells that a spreadsheet would run as a formula are
neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import catalog
from flows.engine import VolunteerStatus
from flows.parsing import MAX_NAME_LENGTH
from service.models import Community, Volunteer
from service.phones import InvalidPhoneNumber, to_e164

REQUIRED_COLUMNS = ("name", "phone")
OPTIONAL_COLUMNS = ("language", "skills", "availability")
EXPORT_COLUMNS = (
    "name",
    "phone",
    "language",
    "skills",
    "status",
    "consent_at",
    "consent_source",
    "availability",
)
MAX_AVAILABILITY_LENGTH = 200  # free text, e.g. "weekends; evenings after 6"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no header, missing columns)."""


def import_volunteers(
    session: Session, community: Community, stream: TextIO, *, source: str, now: datetime
) -> ImportReport:
    reader = csv.DictReader(stream)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ImportFileError(f"line 1: the header must include {', '.join(missing)}")
    reader.fieldnames = header
    report = ImportReport()
    seen: dict[str, int] = {}
    languages = catalog.languages()
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        name = _clean(row.get("name"))
        raw_phone = _clean(row.get("phone"))
        language = _clean(row.get("language")).lower() or "en"
        skills = sorted(
            {
                s.strip().lower()
                for s in _clean(row.get("skills")).replace("|", ";").split(";")
                if s.strip()
            }
        )
        availability = _clean(row.get("availability"))
        if len(availability) > MAX_AVAILABILITY_LENGTH:
            report.errors.append(
                RowError(line, f"availability must be at most {MAX_AVAILABILITY_LENGTH} characters")
            )
            continue
        if not name or len(name) > MAX_NAME_LENGTH:
            report.errors.append(RowError(line, f"name must be 1 to {MAX_NAME_LENGTH} characters"))
            continue
        try:
            phone = to_e164(raw_phone, community.country)
        except InvalidPhoneNumber as exc:
            report.errors.append(RowError(line, f"phone: {exc}"))
            continue
        if language not in languages:
            report.errors.append(
                RowError(line, f"language {language!r} is not one of {', '.join(languages)}")
            )
            continue
        if phone in seen:
            report.errors.append(RowError(line, f"phone {phone} repeats line {seen[phone]}"))
            continue
        seen[phone] = line
        volunteer = session.scalar(
            select(Volunteer).where(
                Volunteer.community_id == community.id, Volunteer.phone == phone
            )
        )
        if volunteer is None:
            volunteer = Volunteer(
                community_id=community.id, phone=phone, status=VolunteerStatus.NEW, created_at=now
            )
            session.add(volunteer)
            report.created += 1
        else:
            report.updated += 1
        volunteer.name = name
        volunteer.language = language
        volunteer.skills = sorted(set(volunteer.skills or []) | set(skills))
        if availability:
            volunteer.availability = availability
        if volunteer.status == VolunteerStatus.NEW:
            volunteer.status = VolunteerStatus.ACTIVE
        if volunteer.consent_at is None and volunteer.status != VolunteerStatus.OPTED_OUT:
            volunteer.consent_at = now
            volunteer.consent_source = source[:40]
            volunteer.sms_consent_at = now  # the importer attests consent to texts
            volunteer.consent_wording = "consent attested by the importing coordinator"
    session.flush()
    return report


def export_volunteers(session: Session, community: Community, stream: TextIO) -> int:
    writer = csv.writer(stream)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for volunteer in _volunteers(session, community):
        writer.writerow(
            [
                neutralize(volunteer.name or ""),
                volunteer.phone,  # validated E.164: digits after a plus, never a formula
                volunteer.language,
                neutralize(";".join(volunteer.skills or [])),
                VolunteerStatus(volunteer.status).value,
                volunteer.consent_at.isoformat() if volunteer.consent_at else "",
                neutralize(volunteer.consent_source or ""),
                neutralize(volunteer.availability or ""),
            ]
        )
        count += 1
    return count


def export_to_string(session: Session, community: Community) -> str:
    buffer = io.StringIO()
    export_volunteers(session, community, buffer)
    return buffer.getvalue()


def neutralize(cell: str) -> str:
    """Prefix a quote to cells a spreadsheet would evaluate (CSV injection)."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def _clean(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    return text[1:] if text.startswith("'") else text


def _volunteers(session: Session, community: Community) -> Iterable[Volunteer]:
    return session.scalars(
        select(Volunteer).where(Volunteer.community_id == community.id).order_by(Volunteer.id)
    )
