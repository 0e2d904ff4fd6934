"""Volunteers as the console manages them: the list's search and filters, the add/edit form's
validation, adding and changing a volunteer (with audit events), and a profile's conversation.

Callers commit. Imports models, flows (catalog, parsing) and service helpers; never Flask.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from flows import catalog
from flows.engine import VolunteerStatus
from flows.parsing import MAX_NAME_LENGTH
from service.communities import audit
from service.db import set_changed
from service.models import Community, Coordinator, Message, Volunteer
from service.volunteers import privacy
from service.volunteers.import_export import (
    MAX_AVAILABILITY_LENGTH,
    MAX_SKILL_LENGTH,
    MAX_SKILLS,
    split_skills,
)
from service.volunteers.phones import InvalidPhoneNumber, to_e164

PER_PAGE = 50
THREAD_PAGE = 100  # messages on a profile; older ones behind a "show older" link
MAX_QUERY_LENGTH = 100
VISIBLE_DIGITS = 4  # a masked number still shows its last four digits
CONSOLE_SOURCE = "console"
CONSOLE_CONSENT_WORDING = "consent attested by the coordinator who added them in the console"


# ----- the list ----------------------------------------------------------------------------
@dataclass(frozen=True)
class VolunteerFilter:
    """What the list is narrowed to; built from the query string, unknown values ignored."""

    q: str = ""
    skill: str = ""
    status: str = ""
    language: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> VolunteerFilter:
        def arg(name: str) -> str:
            return (args.get(name) or "").strip()[:MAX_QUERY_LENGTH]

        status = arg("status")
        if status not in {s.value for s in VolunteerStatus}:
            status = ""
        return cls(q=arg("q"), skill=arg("skill").lower(), status=status, language=arg("language"))

    def as_args(self) -> dict[str, str]:
        """The non-empty filters, for links that keep them (pages, export)."""
        values = {"q": self.q, "skill": self.skill, "status": self.status}
        values["language"] = self.language
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class VolunteerPage:
    volunteers: list[Volunteer]
    total: int
    page: int
    pages: int

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _conditions(
    community: Community, filters: VolunteerFilter, *, full_numbers: bool
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Volunteer.community_id == community.id]
    if filters.q:
        conditions.append(_search(community, filters.q, full_numbers=full_numbers))
    if filters.skill:
        # Skills are a JSON list; its text holds each skill JSON-encoded, quotes included.
        encoded = json.dumps(filters.skill)
        conditions.append(cast(Volunteer.skills, String).contains(encoded, autoescape=True))
    if filters.status:
        conditions.append(Volunteer.status == VolunteerStatus(filters.status))
    if filters.language:
        conditions.append(Volunteer.language == filters.language)
    return conditions


def _search(community: Community, q: str, *, full_numbers: bool) -> ColumnElement[bool]:
    """Name contains ``q``, or the number matches its digits.

    Searching by number is for those who see full numbers (the console audits and
    rate-limits it). Someone who sees masked numbers matches only what the mask shows (the
    last digits): neither a partial search nor a guessed whole number may confirm a hidden
    number, since the masked digits can be enumerated a few hundred requests at a time.
    """
    matches = [func.lower(Volunteer.name).contains(q.lower(), autoescape=True)]
    digits = "".join(ch for ch in q if ch.isdigit())
    if digits and full_numbers:
        with contextlib.suppress(InvalidPhoneNumber):
            matches.append(Volunteer.phone == to_e164(q, community.country))
        matches.append(Volunteer.phone.contains(digits, autoescape=True))
    elif digits and len(digits) <= VISIBLE_DIGITS:
        matches.append(Volunteer.phone.endswith(digits, autoescape=True))
    return or_(*matches)


def searches_by_number(q: str) -> bool:
    """Whether a search text would match numbers (it has digits), for the audit and the limit."""
    return any(ch.isdigit() for ch in q)


def search(
    session: Session,
    community: Community,
    filters: VolunteerFilter,
    page: int = 1,
    *,
    full_numbers: bool,
    per_page: int = PER_PAGE,
) -> VolunteerPage:
    """One page of matching volunteers by name: two queries whatever the page size."""
    conditions = _conditions(community, filters, full_numbers=full_numbers)
    total = int(session.scalar(select(func.count()).select_from(Volunteer).where(*conditions)) or 0)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    volunteers = session.scalars(
        select(Volunteer)
        .where(*conditions)
        .order_by(Volunteer.name.is_(None), func.lower(Volunteer.name), Volunteer.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return VolunteerPage(list(volunteers), total, page, pages)


def matching(
    session: Session, community: Community, filters: VolunteerFilter, *, full_numbers: bool
) -> list[Volunteer]:
    """Every matching volunteer (for the export), oldest first."""
    conditions = _conditions(community, filters, full_numbers=full_numbers)
    return list(session.scalars(select(Volunteer).where(*conditions).order_by(Volunteer.id)))


def skills_in_use(session: Session, community: Community) -> list[str]:
    """Every skill some volunteer of the community has, for the filter's choices."""
    rows = session.scalars(select(Volunteer.skills).where(Volunteer.community_id == community.id))
    return sorted({skill for skills in rows for skill in (skills or [])})


# ----- add and edit ------------------------------------------------------------------------
@dataclass(frozen=True)
class VolunteerInput:
    name: str
    phone: str | None  # E.164; None keeps the current number (an edit that leaves it blank)
    language: str
    skills: list[str]
    availability: str
    urgent_ok: bool


@dataclass
class FormResult:
    data: VolunteerInput | None
    errors: dict[str, str] = field(default_factory=dict)  # field name -> what is wrong


class DuplicateNumber(ValueError):
    """Another volunteer of the community already has this number."""

    def __init__(self, existing: Volunteer) -> None:
        super().__init__("that number already belongs to a volunteer of this community")
        self.existing = existing


class Forgotten(ValueError):
    """The number (or the volunteer) was erased on request and cannot be added back."""


def _refuse_forgotten(session: Session, community: Community, phone: str | None) -> None:
    if phone is not None and privacy.is_suppressed(session, community.id, phone):
        raise Forgotten(f"This number {privacy.SUPPRESSED_REASON}.")


def parse_form(
    form: Mapping[str, str],
    community: Community,
    *,
    phone_required: bool,
    consent_required: bool = False,
) -> FormResult:
    """Validate the add/edit form; every problem is reported, keyed by field."""
    errors: dict[str, str] = {}
    name = " ".join((form.get("name") or "").split())
    if not name or len(name) > MAX_NAME_LENGTH:
        errors["name"] = f"Enter a name of 1 to {MAX_NAME_LENGTH} characters."
    raw_phone = (form.get("phone") or "").strip()
    phone: str | None = None
    if not raw_phone and phone_required:
        errors["phone"] = "Enter a phone number."
    elif raw_phone:
        try:
            phone = to_e164(raw_phone, community.country)
        except InvalidPhoneNumber as exc:
            errors["phone"] = f"“{raw_phone[:40]}” is not a phone number we can text: {exc.reason}."
    language = (form.get("language") or community.default_language).strip()
    if language not in catalog.languages():
        errors["language"] = f"Choose one of: {', '.join(catalog.languages())}."
    skills = sorted(split_skills(form.get("skills")))
    if len(skills) > MAX_SKILLS:
        errors["skills"] = f"At most {MAX_SKILLS} skills."
    elif any(len(skill) > MAX_SKILL_LENGTH for skill in skills):
        errors["skills"] = f"Each skill must be at most {MAX_SKILL_LENGTH} characters."
    availability = " ".join((form.get("availability") or "").split())
    if len(availability) > MAX_AVAILABILITY_LENGTH:
        errors["availability"] = f"At most {MAX_AVAILABILITY_LENGTH} characters."
    if consent_required and not form.get("consent"):
        errors["consent"] = "Add only people who agreed to get texts from this community."
    if errors:
        return FormResult(None, errors)
    data = VolunteerInput(
        name=name,
        phone=phone,
        language=language,
        skills=skills,
        availability=availability,
        urgent_ok=bool(form.get("urgent_ok")),
    )
    return FormResult(data)


def _holder(
    session: Session, community: Community, phone: str, other_than: int | None
) -> Volunteer | None:
    query = select(Volunteer).where(
        Volunteer.community_id == community.id, Volunteer.phone == phone
    )
    if other_than is not None:
        query = query.where(Volunteer.id != other_than)
    return session.scalar(query)


def create_volunteer(
    session: Session,
    community: Community,
    actor: Coordinator | None,
    data: VolunteerInput,
    now: datetime,
) -> Volunteer:
    """A new active volunteer; the coordinator attests their consent (source "console")."""
    if data.phone is None:
        raise ValueError("a new volunteer needs a number")
    _refuse_forgotten(session, community, data.phone)
    existing = _holder(session, community, data.phone, None)
    if existing is not None:
        raise DuplicateNumber(existing)
    volunteer = Volunteer(
        community_id=community.id,
        phone=data.phone,
        name=data.name,
        language=data.language,
        skills=data.skills,
        availability=data.availability,
        urgent_ok=data.urgent_ok,
        status=VolunteerStatus.ACTIVE,
        consent_at=now,
        consent_source=CONSOLE_SOURCE,
        consent_wording=CONSOLE_CONSENT_WORDING,
        sms_consent_at=now,
        created_at=now,
    )
    session.add(volunteer)
    session.flush()
    audit.record(
        session,
        community_id=community.id,
        actor=actor,
        action="created",
        subject=f"volunteer:{volunteer.id}",
        now=now,
        source=CONSOLE_SOURCE,
    )
    return volunteer


def update_volunteer(
    session: Session,
    volunteer: Volunteer,
    actor: Coordinator | None,
    data: VolunteerInput,
    now: datetime,
) -> list[str]:
    """Apply the form; returns the names of the fields that changed (audited, values not)."""
    community = session.get_one(Community, volunteer.community_id)
    if volunteer.erased_at is not None:
        raise Forgotten("This volunteer was erased on their request and cannot be edited.")
    if data.phone is not None and data.phone != volunteer.phone:
        _refuse_forgotten(session, community, data.phone)
        existing = _holder(session, community, data.phone, volunteer.id)
        if existing is not None:
            raise DuplicateNumber(existing)
    wanted = {
        "name": data.name,
        "phone": data.phone if data.phone is not None else volunteer.phone,
        "language": data.language,
        "skills": data.skills,
        "availability": data.availability,
        "urgent_ok": data.urgent_ok,
    }
    changed = set_changed(volunteer, **wanted)
    if changed:
        session.flush()
        audit.record(
            session,
            community_id=community.id,
            actor=actor,
            action="changed",
            subject=f"volunteer:{volunteer.id}",
            now=now,
            fields=changed,
        )
    return changed


def record_number_viewed(
    session: Session, volunteer: Volunteer, actor: Coordinator | None, now: datetime
) -> None:
    audit.record(
        session,
        community_id=volunteer.community_id,
        actor=actor,
        action="viewed number",
        subject=f"volunteer:{volunteer.id}",
        now=now,
    )


# ----- the profile -------------------------------------------------------------------------
@dataclass(frozen=True)
class Thread:
    """A stretch of a volunteer's conversation, oldest first."""

    messages: list[Message]
    older_than: int | None  # the message id to page back from, when older messages exist
    is_latest: bool  # the stretch ends with the newest message


def conversation(
    session: Session, volunteer: Volunteer, before: int | None = None, limit: int = THREAD_PAGE
) -> Thread:
    """The ``limit`` messages (in and out) before message ``before`` (default: the newest)."""
    query = select(Message).where(Message.volunteer_id == volunteer.id)
    anchor = None
    if before is not None:
        anchor = session.scalar(
            select(Message).where(Message.id == before, Message.volunteer_id == volunteer.id)
        )
    if anchor is not None:
        query = query.where(
            or_(
                Message.created_at < anchor.created_at,
                and_(Message.created_at == anchor.created_at, Message.id < anchor.id),
            )
        )
    newest_first = session.scalars(
        query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1)
    ).all()
    shown = list(reversed(newest_first[:limit]))
    older_than = shown[0].id if len(newest_first) > limit else None
    return Thread(shown, older_than, is_latest=anchor is None)
