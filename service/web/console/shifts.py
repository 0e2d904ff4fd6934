"""Console pages: shifts (list, create, edit, cancel), a shift's roster with attendance
corrections, and urgent call-outs.

Views parse the form, call ``service.rosters.shifts`` / ``service.rosters.callouts`` / the
read models, audit, commit, and hand queued texts to the outbox after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from service import clock
from service.communities import audit
from service.models import Assignment, AssignmentStatus, CallOutAsk, Community, Role, Shift
from service.rosters import callouts
from service.rosters import shifts as rosters
from service.rosters.shifts import ShiftEditError, edit_shift
from service.sending import outbox
from service.web.console import bp
from service.web.console.access import current, requires, scoped
from service.web.console.read_models.rosters import shift_roster, shift_rows
from service.web.extensions import db_session, resources
from service.web.params import finite_number

TITLE_MAX, PLACE_MAX, SKILL_MAX = 80, 120, 40
CAPACITY_MAX = 10_000
CALLOUT_NEED_MAX = 500
CALLOUT_TEXT_MAX = 160  # the ask is one SMS with the catalog's words around it
ATTENDANCE = {
    "confirmed": AssignmentStatus.CONFIRMED,
    "checked_in": AssignmentStatus.CHECKED_IN,
    "checked_out": AssignmentStatus.CHECKED_OUT,
    "no_show": AssignmentStatus.NO_SHOW,
}
STATUS_LABELS = {
    "confirmed": "confirmed",
    "checked_in": "checked in",
    "checked_out": "checked out",
    "no_show": "no-show",
}


# ----- the shift form ------------------------------------------------------------------------
@dataclass
class ShiftForm:
    """The create/edit form: raw values (to show again) and per-field errors."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    title: str = ""
    place: str = ""
    skill: str | None = None
    capacity: int = 0
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    FIELDS = ("title", "place", "starts", "ends", "capacity", "skill")

    @classmethod
    def blank(cls) -> ShiftForm:
        return cls(values=dict.fromkeys(cls.FIELDS, ""))

    @classmethod
    def of(cls, shift: Shift, community: Community) -> ShiftForm:
        zone = ZoneInfo(community.timezone)
        return cls(
            values={
                "title": shift.title,
                "place": shift.place,
                "starts": f"{shift.starts_at.astimezone(zone):%Y-%m-%dT%H:%M}",
                "ends": f"{shift.ends_at.astimezone(zone):%Y-%m-%dT%H:%M}",
                "capacity": str(shift.capacity),
                "skill": shift.skill or "",
            }
        )

    @classmethod
    def parse(cls, form: MultiDict[str, str], community: Community) -> ShiftForm:
        values = {name: form.get(name, "").strip() for name in cls.FIELDS}
        parsed = cls(values=values)
        errors = parsed.errors
        parsed.title, parsed.place = values["title"], values["place"]
        if not parsed.title:
            errors["title"] = "Give the shift a title."
        elif len(parsed.title) > TITLE_MAX:
            errors["title"] = f"The title can be at most {TITLE_MAX} characters."
        if not parsed.place:
            errors["place"] = "Say where volunteers should go."
        elif len(parsed.place) > PLACE_MAX:
            errors["place"] = f"The place can be at most {PLACE_MAX} characters."
        if len(values["skill"]) > SKILL_MAX:
            errors["skill"] = f"The skill can be at most {SKILL_MAX} characters."
        parsed.skill = values["skill"].lower() or None
        zone = ZoneInfo(community.timezone)
        for name, label in (("starts", "start"), ("ends", "end")):
            moment, problem = parse_local(values[name], zone)
            if problem:
                errors[name] = f"The {label} {problem}."
            setattr(parsed, f"{name}_at", moment)
        if parsed.starts_at and parsed.ends_at and parsed.ends_at <= parsed.starts_at:
            errors["ends"] = "The shift must end after it starts."
        try:
            parsed.capacity = int(values["capacity"])
        except ValueError:
            errors["capacity"] = "Capacity must be a whole number of places."
        else:
            if not 1 <= parsed.capacity <= CAPACITY_MAX:
                errors["capacity"] = f"Capacity must be between 1 and {CAPACITY_MAX}."
        return parsed

    @property
    def error(self) -> str:
        return " ".join(self.errors.values())


def parse_local(raw: str, zone: ZoneInfo) -> tuple[datetime | None, str]:
    """A ``datetime-local`` value (``2030-03-02T09:00``) in ``zone`` → UTC, or a problem."""
    if not raw:
        return None, "date and time are missing"
    try:
        naive = datetime.fromisoformat(raw.replace(" ", "T"))
    except ValueError:
        return None, "is not a date and time (use YYYY-MM-DD and HH:MM)"
    if naive.tzinfo is not None:
        return None, "must be a local time, without an offset"
    moment = naive.replace(tzinfo=zone)
    back = moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:  # inside a spring-forward gap
        return None, "does not exist on that day (the clocks change)"
    return moment.astimezone(UTC), ""


# ----- list and create -----------------------------------------------------------------------
@bp.get("/shifts")
@requires(Role.VIEWER)
def shifts() -> ResponseReturnValue:
    context = current()
    past = request.args.get("when") == "past"
    rows = shift_rows(db_session(), context.community, clock.now(), past=past)
    return render_template("console/shifts_list.html", rows=rows, past=past)


@bp.route("/shifts/new", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
def shift_new() -> ResponseReturnValue:
    context = current()
    if request.method == "GET":
        return render_template("console/shifts_form.html", form=ShiftForm.blank(), shift=None)
    form = ShiftForm.parse(request.form, context.community)
    now = clock.now()
    if "starts" not in form.errors and form.starts_at is not None and form.starts_at <= now:
        form.errors["starts"] = "The start is in the past."
    if form.errors:
        return render_template("console/shifts_form.html", form=form, shift=None), 400
    assert form.starts_at is not None and form.ends_at is not None
    session = db_session()
    try:
        shift = rosters.add_shift(
            session,
            context.community,
            title=form.title,
            place=form.place,
            starts_at=form.starts_at,
            ends_at=form.ends_at,
            capacity=form.capacity,
            skill=form.skill,
        )
    except rosters.RosterError as exc:
        session.rollback()
        form.errors["form"] = str(exc).replace("--", "")
        return render_template("console/shifts_form.html", form=form, shift=None), 400
    audit.record(
        session,
        community_id=context.community.id,
        actor=context.coordinator,
        action="created",
        subject=f"shift:{shift.id}",
        title=shift.title,
        capacity=shift.capacity,
    )
    session.commit()
    flash(f"Shift “{shift.title}” created. Volunteers see it when they text SHIFTS.")
    return redirect(url_for("console.shift", shift_id=shift.id))


# ----- one shift -----------------------------------------------------------------------------
def render_roster(shift: Shift, error: str = "", status: int = 200) -> ResponseReturnValue:
    session = db_session()
    return (
        render_template(
            "console/shifts_roster.html",
            shift=shift,
            roster=shift_roster(session, shift),
            now=clock.now(),
            error=error,
            status_labels=STATUS_LABELS,
        ),
        status,
    )


@bp.get("/shifts/<int:shift_id>")
@requires(Role.VIEWER)
def shift(shift_id: int) -> ResponseReturnValue:
    return render_roster(scoped(db_session(), Shift, shift_id))


@bp.route("/shifts/<int:shift_id>/edit", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
def shift_edit(shift_id: int) -> ResponseReturnValue:
    context = current()
    session = db_session()
    target = scoped(session, Shift, shift_id)
    if request.method == "GET":
        form = ShiftForm.of(target, context.community)
        return render_template("console/shifts_form.html", form=form, shift=target)
    form = ShiftForm.parse(request.form, context.community)
    now = clock.now()
    moved = (form.starts_at, form.ends_at) != (target.starts_at, target.ends_at)
    if moved and "starts" not in form.errors and form.starts_at and form.starts_at <= now:
        form.errors["starts"] = "The new start is in the past."
    if not form.errors:
        assert form.starts_at is not None and form.ends_at is not None
        try:
            changed = edit_shift(
                session,
                target,
                context.community,
                title=form.title,
                place=form.place,
                capacity=form.capacity,
                skill=form.skill,
                starts_at=form.starts_at,
                ends_at=form.ends_at,
                now=now,
            )
        except ShiftEditError as exc:
            session.rollback()
            form.errors[exc.field] = str(exc)
        except rosters.RosterError as exc:
            session.rollback()
            form.errors["form"] = str(exc).replace("--", "")
        else:
            if changed:
                audit.record(
                    session,
                    community_id=context.community.id,
                    actor=context.coordinator,
                    action="changed",
                    subject=f"shift:{target.id}",
                    fields=changed,
                )
            session.commit()
            outbox.hand_over(resources())  # promoted volunteers are told
            flash("Shift saved." if changed else "Nothing changed.")
            return redirect(url_for("console.shift", shift_id=target.id))
    session.refresh(target)
    return render_template("console/shifts_form.html", form=form, shift=target), 400


@bp.post("/shifts/<int:shift_id>/cancel")
@requires(Role.COORDINATOR)
def shift_cancel(shift_id: int) -> ResponseReturnValue:
    context = current()
    session = db_session()
    target = scoped(session, Shift, shift_id)
    told = rosters.cancel_shift(session, target, context.community, clock.now())
    audit.record(
        session,
        community_id=context.community.id,
        actor=context.coordinator,
        action="cancelled",
        subject=f"shift:{target.id}",
        told=told,
    )
    session.commit()
    outbox.hand_over(resources())
    flash(f"Shift cancelled; {told} volunteer(s) are being told by text.")
    return redirect(url_for("console.shift", shift_id=target.id))


@bp.post("/assignments/<int:assignment_id>/attendance")
@requires(Role.COORDINATOR)
def assignment_attendance(assignment_id: int) -> ResponseReturnValue:
    context = current()
    session = db_session()
    assignment = scoped(session, Assignment, assignment_id)
    target = session.get_one(Shift, assignment.shift_id)
    status = ATTENDANCE.get(request.form.get("status", ""))
    if status is None:
        return render_roster(target, "Choose checked in, checked out, no-show or confirmed.", 400)
    minutes: int | None = None
    raw_hours = request.form.get("hours", "").strip().replace(",", ".")
    if raw_hours and status == AssignmentStatus.CHECKED_OUT:  # hours belong to a check-out
        try:
            minutes = round(finite_number(raw_hours) * 60)
        except ValueError:
            return render_roster(target, "Hours must be a number, like 3 or 2.5.", 400)
    try:
        rosters.set_attendance(session, assignment, status, minutes)
    except rosters.RosterError as exc:
        session.rollback()
        text = str(exc).replace("minutes must be between 0 and 1440", "hours must be 0 to 24")
        return render_roster(target, text[:1].upper() + text[1:] + ".", 400)
    audit.record(
        session,
        community_id=context.community.id,
        actor=context.coordinator,
        action="attendance",
        subject=f"shift:{target.id}",
        assignment=assignment.id,
        volunteer=assignment.volunteer_id,
        status=status.value,
        minutes=minutes,
    )
    session.commit()
    flash(f"Marked {STATUS_LABELS[status.value]}.")
    return redirect(url_for("console.shift", shift_id=target.id) + f"#a{assignment.id}")


@bp.post("/shifts/<int:shift_id>/call-out")
@requires(Role.COORDINATOR)
def shift_callout(shift_id: int) -> ResponseReturnValue:
    context = current()
    session = db_session()
    target = scoped(session, Shift, shift_id)
    text = request.form.get("text", "").strip()
    try:
        need = int(request.form.get("need", ""))
    except ValueError:
        return render_roster(target, "Say how many people are needed (a whole number).", 400)
    if not 1 <= need <= CALLOUT_NEED_MAX:
        return render_roster(target, f"Ask for 1 to {CALLOUT_NEED_MAX} people.", 400)
    if len(text) > CALLOUT_TEXT_MAX:
        too_long = f"Keep the extra words to {CALLOUT_TEXT_MAX} characters."
        return render_roster(target, too_long, 400)
    try:
        callout = callouts.start_callout(
            session, target, context.community, need, text, clock.now()
        )
    except rosters.RosterError:
        session.rollback()
        return render_roster(target, "This shift is over or cancelled: no call-out.", 400)
    asked = int(
        session.scalar(
            select(func.count()).select_from(CallOutAsk).where(CallOutAsk.callout_id == callout.id)
        )
        or 0
    )
    audit.record(
        session,
        community_id=context.community.id,
        actor=context.coordinator,
        action="call-out",
        subject=f"shift:{target.id}",
        callout=callout.id,
        need=need,
        asked=asked,
    )
    session.commit()
    outbox.hand_over(resources())
    if asked:
        flash(f"Call-out started: {asked} volunteer(s) asked for {need} place(s).")
    else:
        flash("Call-out started, but nobody could be asked now (all asked recently or away).")
    return redirect(url_for("console.shift", shift_id=target.id))
