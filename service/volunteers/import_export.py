"""CSV import and export of a community's volunteers.

Import: ``name,phone[,language,skills,availability]``; numbers parsed with the community's
country; good rows import, each bad row is reported by line number and reason. The importer
attests consent. An opted-out volunteer stays opted out whatever the file says. A number
already in the community updates that volunteer; a number repeated within the file is rejected
(the CLI) or merged into its first row (the console, ``merge_repeats``).
Export: every volunteer with status; cells that a spreadsheet would run as a formula are
neutralised; the console may mask the numbers.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

import charset_normalizer
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import catalog
from flows.engine import VolunteerStatus
from flows.parsing import MAX_NAME_LENGTH
from service.models import Community, Volunteer
from service.volunteers import privacy
from service.volunteers.phones import InvalidPhoneNumber, to_e164

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
MAX_SKILLS = 20  # the console form's limits, held by the importer too
MAX_SKILL_LENGTH = 40  # a shift's required skill is at most 40 characters
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
LOOKUP_CHUNK = 500  # numbers per query when matching rows to existing volunteers


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
    merged: int = 0  # rows that repeat an earlier row's number (``merge_repeats``)
    errors: list[RowError] = field(default_factory=list)
    notes: list[RowError] = field(default_factory=list)  # accepted rows worth a mention


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no header, missing columns)."""


# Spreadsheets on Windows save "CSV" in the system's ANSI code page, Windows-1252 for the
# Latin-script languages HandsUp ships; when the bytes read equally well in another single-byte
# code page (cp1250 gives "Muńoz" where cp1252 gives "Muñoz"), this one wins.
PREFERRED_LEGACY_ENCODING = "cp1252"


def decode_csv(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a CSV file's bytes: UTF-8 with or without a byte-order mark,
    UTF-16 (Excel's "Unicode text"), or a legacy code page detected by charset-normalizer."""
    if data.startswith(codecs.BOM_UTF8):
        data, bom = data[len(codecs.BOM_UTF8) :], "utf-8-sig"
    else:
        bom = ""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    if b"\x00" not in data:  # NULs: UTF-16 without a mark, which is valid UTF-8 byte by byte
        try:
            return data.decode("utf-8"), bom or "utf-8"
        except UnicodeDecodeError:
            if bom:
                raise ImportFileError(
                    "the file says it is UTF-8 but is not: save it again as CSV UTF-8"
                ) from None
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        raise ImportFileError("the file is not text: save it from the spreadsheet as CSV UTF-8")
    for match in matches:
        if match.chaos <= best.chaos and PREFERRED_LEGACY_ENCODING in match.could_be_from_charset:
            try:
                return data.decode(PREFERRED_LEGACY_ENCODING), PREFERRED_LEGACY_ENCODING
            except UnicodeDecodeError:  # a byte cp1252 leaves undefined
                break
    return str(best), best.encoding


@dataclass(frozen=True)
class _Row:
    line: int
    name: str
    phone: str
    language: str
    skills: frozenset[str]
    availability: str
    repeat: bool  # the number already appeared on an earlier good row


def import_volunteers(
    session: Session,
    community: Community,
    stream: TextIO,
    *,
    source: str,
    now: datetime,
    merge_repeats: bool = False,
) -> ImportReport:
    """Import the rows of ``stream``; the caller commits.

    A number already in the community updates that volunteer. A number repeated within the
    file is a rejected row, or with ``merge_repeats`` updates the volunteer of its first row
    (later cells win, skills add up) and is counted as merged.
    """
    reader = csv.DictReader(stream)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ImportFileError(f"line 1: the header must include {', '.join(missing)}")
    reader.fieldnames = header
    report = ImportReport()
    rows = _parse_rows(reader, community, report, merge_repeats=merge_repeats)
    suppressed = privacy.suppressed_among(session, community.id, [row.phone for row in rows])
    if suppressed:  # erased on their request: only they can come back, by texting JOIN
        for row in rows:
            if row.phone in suppressed:
                report.errors.append(RowError(row.line, f"this number {privacy.SUPPRESSED_REASON}"))
        report.errors.sort(key=lambda error: error.line)
        rows = [row for row in rows if row.phone not in suppressed]
    existing = _existing(session, community, {row.phone for row in rows})
    for row in rows:
        volunteer = existing.get(row.phone)
        if volunteer is None:
            volunteer = Volunteer(
                community_id=community.id,
                phone=row.phone,
                status=VolunteerStatus.NEW,
                created_at=now,
                skills=[],
            )
            session.add(volunteer)
            existing[row.phone] = volunteer
            report.created += 1
        elif row.repeat:
            report.merged += 1
        else:
            report.updated += 1
        volunteer.name = row.name
        volunteer.language = row.language
        merged = set(volunteer.skills or []) | row.skills
        # Skills add up over repeats and earlier imports, within the form's limits.
        volunteer.skills = sorted(merged)[:MAX_SKILLS]
        if row.availability:
            volunteer.availability = row.availability
        if volunteer.status == VolunteerStatus.NEW:
            volunteer.status = VolunteerStatus.ACTIVE
        if volunteer.consent_at is None and volunteer.status != VolunteerStatus.OPTED_OUT:
            volunteer.consent_at = now
            volunteer.consent_source = source[:40]
            volunteer.sms_consent_at = now  # the importer attests consent to texts
            volunteer.consent_wording = "consent attested by the importing coordinator"
    session.flush()
    return report


def _parse_rows(
    reader: csv.DictReader[str], community: Community, report: ImportReport, *, merge_repeats: bool
) -> list[_Row]:
    """The good rows, in file order; each bad row becomes an error in ``report``."""
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    languages = catalog.languages()
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        name = _clean(row.get("name"))
        raw_phone = _clean(row.get("phone"))
        language = _clean(row.get("language")).lower() or community.default_language
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
        skills = split_skills(row.get("skills"))
        problem = skills_problem(skills)
        if problem:
            report.errors.append(RowError(line, f"skills: {problem}"))
            continue
        repeat = phone in seen
        if repeat and not merge_repeats:
            report.errors.append(RowError(line, f"phone {phone} repeats line {seen[phone]}"))
            continue
        if repeat:
            # No number in the note: the console shows it to people who may not see numbers.
            report.notes.append(RowError(line, f"same number as line {seen[phone]}: merged"))
        else:
            seen[phone] = line
        rows.append(_Row(line, name, phone, language, skills, availability, repeat))
    return rows


def _existing(session: Session, community: Community, phones: set[str]) -> dict[str, Volunteer]:
    """The community's volunteers with these numbers, in a few queries (not one per row)."""
    found: dict[str, Volunteer] = {}
    ordered = sorted(phones)
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[start : start + LOOKUP_CHUNK]
        for volunteer in session.scalars(
            select(Volunteer).where(
                Volunteer.community_id == community.id, Volunteer.phone.in_(chunk)
            )
        ):
            found[volunteer.phone] = volunteer
    return found


def skills_problem(skills: frozenset[str] | set[str]) -> str | None:
    """Why a volunteer's skills break the limits the console form holds, or None."""
    if len(skills) > MAX_SKILLS:
        return f"at most {MAX_SKILLS} skills"
    if any(len(skill) > MAX_SKILL_LENGTH for skill in skills):
        return f"each skill must be at most {MAX_SKILL_LENGTH} characters"
    return None


def split_skills(value: object) -> frozenset[str]:
    """Skills from one cell or form field: separated by ``;``, ``|`` or ``,``; lower-cased."""
    text = _clean(value)
    for separator in "|,":
        text = text.replace(separator, ";")
    return frozenset(s.strip().lower() for s in text.split(";") if s.strip())


def export_volunteers(
    session: Session,
    community: Community,
    stream: TextIO,
    *,
    phone: Callable[[str], str] | None = None,
    volunteers: Iterable[Volunteer] | None = None,
) -> int:
    """Write the CSV; ``phone`` may mask numbers, ``volunteers`` narrow the rows (default: all)."""
    writer = csv.writer(stream)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    show_phone = phone or str
    rows = volunteers if volunteers is not None else _volunteers(session, community)
    for volunteer in rows:
        writer.writerow(
            [
                neutralize(volunteer.name or ""),
                # Validated E.164 (digits after a plus, never a formula) or its masked form.
                show_phone(volunteer.phone),
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
