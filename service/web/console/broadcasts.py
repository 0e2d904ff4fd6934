"""Console pages: the broadcast composer (write, preview the cost, send), the list of
broadcasts, one broadcast's delivery counts, and the two-person approval.

The composer's fields are ``segment`` (everyone, skill, language, roster), ``skill``,
``language``, ``roster_id`` and ``text``; the preview's Send form carries the same fields.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from flows import catalog
from service.communities import audit
from service.models import Broadcast, Role, Roster, Volunteer, VolunteerStatus
from service.sending import outbox
from service.sending.broadcasts import (
    MAX_TEXT_LENGTH,
    PRICE_PER_SEGMENT_USD,
    ApprovalError,
    BroadcastError,
    BroadcastStatus,
    Segment,
    approve_broadcast,
    needs_approval,
    preview_broadcast,
    reject_broadcast,
    send_broadcast,
    status_counts,
)
from service.web.console import bp, render_error
from service.web.console.access import current, requires, scoped
from service.web.extensions import db_session, resources
from service.web.params import id_value

SEGMENTS = ("everyone", "skill", "language", "roster")
PAGE_SIZE = 50
MAX_SKILLS = 200
OWN_APPROVAL = "You asked for this broadcast: a different coordinator must approve it."


@dataclass(frozen=True)
class Draft:
    """The composer's fields as typed (shown again after an error or on the preview)."""

    segment: str = "everyone"
    skill: str = ""
    language: str = ""
    roster_id: int | None = None
    text: str = ""

    @classmethod
    def from_form(cls) -> Draft:
        form = request.form
        segment = form.get("segment", "everyone")
        return cls(
            segment=segment if segment in SEGMENTS else "everyone",
            skill=form.get("skill", "").strip().lower()[:40],
            language=form.get("language", "").strip()[:8],
            roster_id=id_value(form, "roster_id"),
            text=form.get("text", "")[: MAX_TEXT_LENGTH + 100],
        )

    def to_segment(self) -> Segment:
        """The chosen segment; only the filter the radio button names counts."""
        if self.segment == "skill":
            if not self.skill:
                raise BroadcastError("Name the skill the volunteers should have.")
            return Segment(skill=self.skill)
        if self.segment == "language":
            if self.language not in catalog.languages():
                raise BroadcastError("Choose a language.")
            return Segment(language=self.language)
        if self.segment == "roster":
            if self.roster_id is None:
                raise BroadcastError("Choose a roster.")
            return Segment(roster_id=self.roster_id)
        return Segment()

    def check_text(self) -> str:
        text = self.text.strip()
        if not text:
            raise BroadcastError("Write the message first.")
        if len(text) > MAX_TEXT_LENGTH:
            raise BroadcastError(f"A broadcast can be at most {MAX_TEXT_LENGTH} characters.")
        return text


def _choices() -> dict[str, object]:
    """What the composer offers: rosters, languages and the skills volunteers have."""
    dbs = db_session()
    community = current().community
    rosters = dbs.scalars(
        select(Roster).where(Roster.community_id == community.id).order_by(Roster.name)
    ).all()
    skills: Counter[str] = Counter()
    for row in dbs.scalars(
        select(Volunteer.skills).where(
            Volunteer.community_id == community.id, Volunteer.status == VolunteerStatus.ACTIVE
        )
    ):
        skills.update(row or [])
    languages = [(code, catalog.language_name(code)) for code in catalog.languages()]
    return {
        "rosters": rosters,
        "skills": sorted(skills)[:MAX_SKILLS],
        "languages": languages,
        "segments": SEGMENTS,
        "max_length": MAX_TEXT_LENGTH,
        "two_person": community.two_person_broadcasts,
    }


def _sentence(error: Exception) -> str:
    text = str(error).strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _composer(draft: Draft, error: str | None = None) -> ResponseReturnValue:
    page = render_template("console/broadcast_new.html", draft=draft, error=error, **_choices())
    return page, (400 if error else 200)


def describe(segment: Segment, rosters: dict[int, str] | None = None) -> str:
    """A segment in words, e.g. "volunteers with the skill driver"."""
    if segment.skill:
        return f"active volunteers with the skill “{segment.skill}”"
    if segment.language:
        return f"active volunteers who read {catalog.language_name(segment.language)}"
    if segment.roster_id is not None:
        name = (rosters or {}).get(segment.roster_id, f"roster {segment.roster_id}")
        return f"active volunteers booked on “{name}”"
    return "every active volunteer"


def _roster_names() -> dict[int, str]:
    rows = db_session().execute(
        select(Roster.id, Roster.name).where(Roster.community_id == current().community.id)
    )
    return {row.id: row.name for row in rows}


@bp.get("/broadcasts/new")
@requires(Role.VIEWER)
def broadcast_new() -> ResponseReturnValue:
    return _composer(Draft())


@bp.post("/broadcasts/preview")
@requires(Role.COORDINATOR)
def broadcast_preview() -> ResponseReturnValue:
    draft = Draft.from_form()
    dbs = db_session()
    community = current().community
    try:
        text = draft.check_text()
        segment = draft.to_segment()
        preview = preview_broadcast(dbs, community, text, segment)
    except BroadcastError as error:
        return _composer(draft, _sentence(error))
    return render_template(
        "console/broadcast_preview.html",
        draft=draft,
        preview=preview,
        audience=describe(segment, _roster_names()),
        held=needs_approval(dbs, community, preview.recipients),
        price=PRICE_PER_SEGMENT_USD,
        request_key=secrets.token_urlsafe(24),
        language_name=catalog.language_name,
        **_choices(),
    )


def _request_key() -> str | None:
    """The preview form's one-time key (32 url-safe characters), if it sent a sane one."""
    key = request.form.get("request_key", "")
    return key if 16 <= len(key) <= 64 and key.replace("-", "").replace("_", "").isalnum() else None


@bp.post("/broadcasts")
@requires(Role.COORDINATOR)
def broadcast_send() -> ResponseReturnValue:
    context = current()
    draft = Draft.from_form()
    dbs = db_session()
    try:
        text = draft.check_text()
        segment = draft.to_segment()
        sent = send_broadcast(
            dbs,
            context.community,
            text,
            segment,
            requested_by=context.coordinator.email,
            request_key=_request_key(),
        )
    except BroadcastError as error:
        dbs.rollback()
        return _composer(draft, _sentence(error))
    broadcast = sent.broadcast
    if not sent.duplicate:
        audit.record(
            dbs,
            community_id=context.community.id,
            actor=context.coordinator,
            action="broadcast",
            subject=f"broadcast:{broadcast.id}",
            status=broadcast.status,
            recipients=broadcast.recipients,
            segment=segment.as_json(),
        )
    broadcast_id, status = broadcast.id, broadcast.status
    dbs.commit()
    if sent.duplicate:
        flash("This broadcast was already sent a moment ago; it was not sent again.")
    elif status == BroadcastStatus.AWAITING_APPROVAL:
        flash("Saved. A different coordinator must approve this broadcast before it is sent.")
    else:
        outbox.hand_over(resources())
        flash(f"Broadcast queued to {broadcast.recipients} volunteer(s).")
    return redirect(url_for("console.broadcast", broadcast_id=broadcast_id))


@bp.get("/broadcasts")
@requires(Role.VIEWER)
def broadcasts() -> ResponseReturnValue:
    dbs = db_session()
    community = current().community
    before = id_value(request.args, "before")
    query = select(Broadcast).where(Broadcast.community_id == community.id)
    if before is not None:
        query = query.where(Broadcast.id < before)
    rows = list(dbs.scalars(query.order_by(Broadcast.id.desc()).limit(PAGE_SIZE + 1)))
    waiting = (
        []
        if before is not None
        else list(
            dbs.scalars(
                select(Broadcast)
                .where(
                    Broadcast.community_id == community.id,
                    Broadcast.status == BroadcastStatus.AWAITING_APPROVAL,
                )
                .order_by(Broadcast.id)
            )
        )
    )
    names = _roster_names()
    return render_template(
        "console/broadcast_list.html",
        broadcasts=rows[:PAGE_SIZE],
        waiting=waiting,
        more=len(rows) > PAGE_SIZE,
        paged=before is not None,
        describe=lambda b: describe(Segment.from_json(b.segment), names),
    )


@bp.get("/broadcasts/<int:broadcast_id>")
@requires(Role.VIEWER)
def broadcast(broadcast_id: int) -> ResponseReturnValue:
    context = current()
    dbs = db_session()
    found = scoped(dbs, Broadcast, broadcast_id)
    segment = Segment.from_json(found.segment)
    preview = None
    if found.status == BroadcastStatus.AWAITING_APPROVAL:
        preview = preview_broadcast(dbs, context.community, found.text, segment)
    counts = status_counts(dbs, found)
    return render_template(
        "console/broadcast_detail.html",
        broadcast=found,
        audience=describe(segment, _roster_names()),
        counts=sorted(counts.items()),
        total=sum(counts.values()),
        preview=preview,
        awaiting=found.status == BroadcastStatus.AWAITING_APPROVAL,
        own=found.created_by.lower() == context.coordinator.email.lower(),
    )


def _decision(broadcast_id: int, approve: bool) -> ResponseReturnValue:
    context = current()
    dbs = db_session()
    found = scoped(dbs, Broadcast, broadcast_id)
    if approve and found.created_by.lower() == context.coordinator.email.lower():
        return render_error(403, OWN_APPROVAL)
    try:
        if approve:
            decided = approve_broadcast(
                dbs, context.community, found.id, approver=context.coordinator
            )
        else:
            decided = reject_broadcast(
                dbs, context.community, found.id, decided_by=context.coordinator.email
            )
    except ApprovalError as error:
        dbs.rollback()
        flash(f"Nothing changed: {str(error).rstrip('.')}.")
        return redirect(url_for("console.broadcast", broadcast_id=found.id))
    audit.record(
        dbs,
        community_id=context.community.id,
        actor=context.coordinator,
        action="approved broadcast" if approve else "rejected broadcast",
        subject=f"broadcast:{decided.id}",
        requested_by=decided.created_by,
        recipients=decided.recipients,
    )
    recipients = decided.recipients
    dbs.commit()
    if approve:
        outbox.hand_over(resources())
        flash(f"Approved: queued to {recipients} volunteer(s).")
    else:
        flash("Rejected: nothing was sent.")
    return redirect(url_for("console.broadcast", broadcast_id=broadcast_id))


@bp.post("/broadcasts/<int:broadcast_id>/approve")
@requires(Role.COORDINATOR)
def broadcast_approve(broadcast_id: int) -> ResponseReturnValue:
    return _decision(broadcast_id, approve=True)


@bp.post("/broadcasts/<int:broadcast_id>/reject")
@requires(Role.COORDINATOR)
def broadcast_reject(broadcast_id: int) -> ResponseReturnValue:
    return _decision(broadcast_id, approve=False)
