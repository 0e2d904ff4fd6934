"""Console pages: volunteers (list with search and filters, profile and conversation, add and
edit, the audited "show number", CSV import and export).

Thin views over ``service.volunteers.admin`` and ``service.volunteers.import_export``.
"""

from __future__ import annotations

import io

from flask import Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from werkzeug.utils import secure_filename

from flows import catalog
from service import clock
from service.communities import audit
from service.models import Role, Volunteer, VolunteerStatus
from service.rosters.donations import pledges_of
from service.rosters.shifts import commitments_of
from service.volunteers import admin as volunteer_admin
from service.volunteers.admin import DuplicateNumber, Forgotten, VolunteerFilter
from service.volunteers.import_export import (
    ImportFileError,
    ImportReport,
    export_volunteers,
    import_volunteers,
)
from service.web.console import bp, render_error
from service.web.console.access import current, requires, scoped
from service.web.console.ratelimit import NUMBER_SEARCH_LIMIT, Throttle
from service.web.extensions import db_session, resources
from service.web.params import id_value, page_value

# The app refuses bodies over 64 KB (MAX_CONTENT_LENGTH); a 500-row file is about 30 KB.
MAX_IMPORT_BYTES = 60 * 1024
DUPLICATE_TEXT = "That number already belongs to a volunteer of this community."


def _choices() -> dict[str, object]:
    languages = [(code, catalog.language_name(code)) for code in catalog.languages()]
    return {"languages": languages, "statuses": [s.value for s in VolunteerStatus]}


@bp.get("/volunteers")
@requires(Role.VIEWER)
def volunteers() -> ResponseReturnValue:
    context = current()
    dbs = db_session()
    filters = VolunteerFilter.from_args(request.args)
    refused = _number_search(filters)
    if refused is not None:
        return refused
    listing = volunteer_admin.search(
        dbs,
        context.community,
        filters,
        page_value(request.args),
        full_numbers=context.numbers_visible,
    )
    return render_template(
        "console/volunteers_list.html",
        filters=filters,
        listing=listing,
        skills=volunteer_admin.skills_in_use(dbs, context.community),
        **_choices(),
    )


def _number_search(filters: VolunteerFilter) -> ResponseReturnValue | None:
    """Audit and rate-limit a search by number; a response when it is refused (429 or 503).

    Only those who see full numbers search by number (``volunteer_admin.search``); their
    searches are counted per coordinator and recorded without the digits searched.
    """
    context = current()
    if not (context.numbers_visible and volunteer_admin.searches_by_number(filters.q)):
        return None
    try:
        wait = Throttle(resources().redis).hit(
            "number-search", str(context.coordinator.id), NUMBER_SEARCH_LIMIT
        )
    except RedisError:
        return render_error(503)
    if wait is not None:
        return render_error(429, "Too many searches by number. Wait a few minutes.")
    dbs = db_session()
    audit.record(
        dbs,
        community_id=context.community.id,
        actor=context.coordinator,
        action="searched by number",
        subject="volunteers",
        digits=sum(ch.isdigit() for ch in filters.q),
    )
    dbs.commit()
    return None


def _profile(volunteer: Volunteer, *, revealed: bool = False) -> str:
    dbs = db_session()
    now = clock.now()
    thread = volunteer_admin.conversation(dbs, volunteer, id_value(request.args, "before"))
    return render_template(
        "console/volunteers_profile.html",
        volunteer=volunteer,
        revealed=revealed,
        thread=thread,
        commitments=commitments_of(dbs, volunteer, now),
        pledges=pledges_of(dbs, volunteer, now),
        language_name=catalog.language_name(volunteer.language),
    )


@bp.get("/volunteers/<int:volunteer_id>")
@requires(Role.VIEWER)
def volunteer(volunteer_id: int) -> ResponseReturnValue:
    return _profile(scoped(db_session(), Volunteer, volunteer_id))


@bp.post("/volunteers/<int:volunteer_id>/number")
@requires(Role.COORDINATOR)
def volunteer_number(volunteer_id: int) -> ResponseReturnValue:
    """Show the full number once, on this response only; the audit log says who looked."""
    context = current()
    dbs = db_session()
    found = scoped(dbs, Volunteer, volunteer_id)
    volunteer_admin.record_number_viewed(dbs, found, context.coordinator, clock.now())
    dbs.commit()
    response = _profile(found, revealed=True)
    return response, 200, {"Cache-Control": "no-store"}


def _form_page(
    volunteer: Volunteer | None,
    values: dict[str, object],
    errors: dict[str, str] | None = None,
    existing: Volunteer | None = None,
) -> ResponseReturnValue:
    title = f"Edit {volunteer.name or 'volunteer'}" if volunteer else "Add a volunteer"
    page = render_template(
        "console/volunteers_form.html",
        title=title,
        volunteer=volunteer,
        values=values,
        errors=errors or {},
        existing=existing,
        **_choices(),
    )
    return page, 400 if errors else 200


def _submitted() -> dict[str, object]:
    """The form as typed, to fill it in again next to its errors."""
    form = request.form
    fields = ("name", "phone", "language", "skills", "availability")
    values: dict[str, object] = {name: form.get(name, "") for name in fields}
    values["urgent_ok"] = bool(form.get("urgent_ok"))
    values["consent"] = bool(form.get("consent"))
    return values


def _duplicate(volunteer: Volunteer | None, error: Exception) -> ResponseReturnValue:
    db_session().rollback()
    existing = error.existing if isinstance(error, DuplicateNumber) else None
    if not current().numbers_visible:
        existing = None  # naming the person would tell a hidden number's owner
    return _form_page(volunteer, _submitted(), {"phone": DUPLICATE_TEXT}, existing)


@bp.route("/volunteers/new", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
def volunteer_new() -> ResponseReturnValue:
    context = current()
    if request.method == "GET":
        return _form_page(None, {"language": context.community.default_language})
    result = volunteer_admin.parse_form(
        request.form, context.community, phone_required=True, consent_required=True
    )
    if result.data is None:
        return _form_page(None, _submitted(), result.errors)
    dbs = db_session()
    try:
        created = volunteer_admin.create_volunteer(
            dbs, context.community, context.coordinator, result.data, clock.now()
        )
        dbs.commit()
    except (DuplicateNumber, IntegrityError) as exc:
        return _duplicate(None, exc)
    except Forgotten as exc:
        dbs.rollback()
        return _form_page(None, _submitted(), {"phone": str(exc)})
    flash(f"Added {created.name}.")
    return redirect(url_for("console.volunteer", volunteer_id=created.id))


@bp.route("/volunteers/<int:volunteer_id>/edit", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
def volunteer_edit(volunteer_id: int) -> ResponseReturnValue:
    context = current()
    dbs = db_session()
    found = scoped(dbs, Volunteer, volunteer_id)
    if request.method == "GET":
        values: dict[str, object] = {
            "name": found.name or "",
            # Prefilled only where full numbers show; elsewhere blank keeps the number.
            "phone": found.phone if context.numbers_visible else "",
            "language": found.language,
            "skills": ", ".join(found.skills or []),
            "availability": found.availability or "",
            "urgent_ok": found.urgent_ok,
        }
        return _form_page(found, values)
    result = volunteer_admin.parse_form(
        request.form, context.community, phone_required=context.numbers_visible
    )
    if result.data is None:
        return _form_page(found, _submitted(), result.errors)
    try:
        changed = volunteer_admin.update_volunteer(
            dbs, found, context.coordinator, result.data, clock.now()
        )
        dbs.commit()
    except (DuplicateNumber, IntegrityError) as exc:
        return _duplicate(found, exc)
    except Forgotten as exc:
        dbs.rollback()
        return _form_page(found, _submitted(), {"phone": str(exc)})
    flash(f"Saved {found.name}." if changed else "Nothing changed.")
    return redirect(url_for("console.volunteer", volunteer_id=found.id))


@bp.route("/volunteers/import", methods=["GET", "POST"])
@requires(Role.COORDINATOR)
def volunteers_import() -> ResponseReturnValue:
    if request.method == "GET":
        return _import_page()
    context = current()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _import_error("Choose a CSV file to import.")
    raw = upload.stream.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        return _import_error(
            f"That file is larger than {MAX_IMPORT_BYTES // 1024} KB: split it into smaller files.",
            413,
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _import_error("That file is not UTF-8 text: save it as “CSV UTF-8” and try again.")
    filename = secure_filename(upload.filename) or "upload.csv"
    dbs = db_session()
    try:
        report = import_volunteers(
            dbs,
            context.community,
            io.StringIO(text, newline=""),
            source=f"import:{filename}",
            now=clock.now(),
            merge_repeats=True,
        )
    except ImportFileError as exc:
        dbs.rollback()
        return _import_error(str(exc))
    audit.record(
        dbs,
        community_id=context.community.id,
        actor=context.coordinator,
        action="imported",
        subject="volunteers",
        file=filename[:80],
        created=report.created,
        updated=report.updated,
        merged=report.merged,
        rejected=len(report.errors),
    )
    try:
        dbs.commit()
    except IntegrityError:  # a number joined by text while the file was being imported
        dbs.rollback()
        return _import_error("Someone joined by text meanwhile. Import the file again.", 409)
    return _import_page(report=report, filename=filename)


def _import_page(*, report: ImportReport | None = None, filename: str = "", error: str = "") -> str:
    return render_template(
        "console/volunteers_import.html",
        report=report,
        filename=filename,
        error=error,
        languages=catalog.languages(),
    )


def _import_error(message: str, status: int = 400) -> ResponseReturnValue:
    return _import_page(error=message), status


@bp.get("/volunteers/export.csv")
@requires(Role.VIEWER)
def volunteers_export() -> ResponseReturnValue:
    """The (filtered) list as CSV; numbers masked wherever pages mask them."""
    context = current()
    dbs = db_session()
    filters = VolunteerFilter.from_args(request.args)
    refused = _number_search(filters)
    if refused is not None:
        return refused
    rows = volunteer_admin.matching(
        dbs, context.community, filters, full_numbers=context.numbers_visible
    )
    buffer = io.StringIO()
    buffer.write("\ufeff")  # a BOM, so spreadsheet apps read names as UTF-8
    count = export_volunteers(
        dbs,
        context.community,
        buffer,
        phone=context.phone,
        volunteers=rows,
    )
    audit.record(
        dbs,
        community_id=context.community.id,
        actor=context.coordinator,
        action="exported",
        subject="volunteers",
        count=count,
        masked=not context.numbers_visible,
        # The search text may be a number: only its presence is recorded.
        filters={k: v for k, v in filters.as_args().items() if k != "q"},
        searched=bool(filters.q),
    )
    dbs.commit()
    filename = f"volunteers-{context.community.slug}.csv"
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
