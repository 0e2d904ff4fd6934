"""Console pages: the community's settings and its coordinators (owners change them).

Everyone in the community may read the settings; only owners save them or manage who
coordinates. Validation lives in ``service.communities.settings`` (one message per field,
nothing saved when any field is wrong); every change is audited.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from flows import catalog
from service import clock
from service.communities import audit, invitations
from service.communities.accounts import AccountError
from service.communities.export import export_zip
from service.communities.settings import (
    FLAGS,
    apply_settings,
    current_settings,
    parse_form,
)
from service.conversations import destinations
from service.coordinators import phones as coordinator_phones
from service.coordinators.phones import PhoneError
from service.db import take_sqlite_write_lock
from service.models import Community, Coordinator, Membership, Role
from service.sending import TEMPLATE_KINDS, outbox
from service.volunteers.phones import mask
from service.web.console import bp
from service.web.console.access import current, requires, scoped
from service.web.console.ratelimit import Limit, LoginLimiter
from service.web.extensions import db_session, resources

PHONE_CODES = Limit(5, 15 * 60)  # wrong phone verification codes per coordinator

FIELD_LABELS = {
    "timezone": "time zone",
    "quiet_start_minute": "quiet hours start",
    "quiet_end_minute": "quiet hours end",
    "reminder_offsets": "reminders",
    "ask_limit_per_week": "weekly ask limit",
    "whatsapp_templates": "WhatsApp templates",
    "retention_days": "message retention",
    "clock": "clock",
    "default_language": "default language",
    "require_totp": "two-factor for coordinators",
    "protect_numbers": "protect numbers",
    "two_person_broadcasts": "two-person broadcasts",
    "two_person_threshold": "approval threshold",
}
ROLE_CHOICES = (Role.OWNER, Role.COORDINATOR, Role.VIEWER)


def _members() -> list[tuple[Membership, Coordinator]]:
    rows = db_session().execute(
        select(Membership, Coordinator)
        .join(Coordinator, Coordinator.id == Membership.coordinator_id)
        .where(Membership.community_id == current().community.id)
        .order_by(Coordinator.email)
    )
    members = [(m, c) for m, c in rows]
    members.sort(key=lambda mc: -mc[0].role.rank)
    return members


def _page(
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    *,
    coordinator_error: str | None = None,
    coordinator_form: dict[str, str] | None = None,
    status: int = 200,
    invitation_link: str = "",
    invited: str = "",
    invited_role: str = "",
    phone_error: str | None = None,
    phone_form: str = "",
) -> ResponseReturnValue:
    context = current()
    if values is None:
        values = current_settings(db_session(), context.community).as_form()
    return render_template(
        "console/settings_page.html",
        values=values,
        errors=errors or {},
        template_kinds=TEMPLATE_KINDS,
        languages=[(code, catalog.language_name(code)) for code in catalog.languages()],
        members=_members() if context.is_owner else [],
        roles=ROLE_CHOICES,
        coordinator_error=coordinator_error,
        coordinator_form=coordinator_form or {},
        invitation_link=invitation_link,
        invited=invited,
        invited_role=invited_role,
        my_phone=coordinator_phones.registered(
            db_session(), context.coordinator, context.community
        ),
        phone_error=phone_error,
        phone_form=phone_form,
    ), status


@bp.get("/settings")
@requires(Role.VIEWER)
def settings() -> ResponseReturnValue:
    return _page()


@bp.post("/settings")
@requires(Role.OWNER)
def settings_save() -> ResponseReturnValue:
    context = current()
    form = {key: request.form.get(key, "") for key in request.form}
    wanted, errors = parse_form(form)
    if wanted is None:
        submitted: dict[str, Any] = dict(form)
        for flag in FLAGS:
            submitted[flag] = bool(form.get(flag))
        return _page(submitted, errors, status=400)
    dbs = db_session()
    community = dbs.get_one(Community, context.community.id)
    changed = apply_settings(dbs, community, wanted)
    if not changed:
        flash("Nothing changed.")
        return redirect(url_for("console.settings"))
    audit.record(
        dbs,
        community_id=community.id,
        actor=context.coordinator,
        action="changed settings",
        subject=f"community:{community.id}",
        fields=changed,
    )
    dbs.commit()
    destinations.forget_all()  # this process at once; the others within its TTL
    flash("Settings saved: " + ", ".join(FIELD_LABELS.get(name, name) for name in changed) + ".")
    return redirect(url_for("console.settings"))


@bp.post("/settings/coordinators")
@requires(Role.OWNER)
def coordinator_add() -> ResponseReturnValue:
    """Invite an email to help run the community; the invitee accepts from the link.

    The answer is the same whether an account has the email or not: nothing is attached
    without its holder, and nothing is learnt about who has an account elsewhere.
    """
    context = current()
    email = request.form.get("email", "").strip().lower()[:254]
    raw_role = request.form.get("role", "")
    kept = {"email": email, "role": raw_role}
    try:
        role = Role(raw_role)
    except ValueError:
        return _page(coordinator_error="Choose a role.", coordinator_form=kept, status=400)
    dbs = db_session()
    community = dbs.get_one(Community, context.community.id)
    try:
        issued = invitations.invite(dbs, community, context.coordinator, email, role, clock.now())
    except AccountError as exc:
        dbs.rollback()
        return _page(coordinator_error=_sentence(str(exc)), coordinator_form=kept, status=400)
    audit.record(
        dbs,
        community_id=community.id,
        actor=context.coordinator,
        action="invited coordinator",
        subject=f"invitation:{issued.invitation.id}",
        email=email,
        role=role.value,
    )
    dbs.commit()
    link = url_for("console.invitation", token=issued.token, _external=True)
    return _page(invitation_link=link, invited=email, invited_role=role.value)


@bp.post("/settings/coordinators/<int:membership_id>/role")
@requires(Role.OWNER)
def coordinator_role(membership_id: int) -> ResponseReturnValue:
    """Change a member's role; the last owner cannot step down."""
    context = current()
    dbs = db_session()
    take_sqlite_write_lock(dbs)
    # Lock the community row: two owners demoting each other at once cannot both pass.
    dbs.scalar(select(Community).where(Community.id == context.community.id).with_for_update())
    membership = scoped(dbs, Membership, membership_id)  # another community's: 404 first
    try:
        role = Role(request.form.get("role", ""))
    except ValueError:
        dbs.rollback()
        return _page(coordinator_error="Choose a role.", status=400)
    coordinator = dbs.get_one(Coordinator, membership.coordinator_id)
    previous = membership.role
    if previous == role:
        flash(f"{coordinator.email} is already {role.value}.")
        return redirect(url_for("console.settings") + "#coordinators")
    if previous == Role.OWNER:
        owners = dbs.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.community_id == context.community.id, Membership.role == Role.OWNER)
        )
        if (owners or 0) <= 1:
            dbs.rollback()
            error = (
                f"{coordinator.email} is the only owner. Make someone else owner first: "
                "a community always keeps an owner."
            )
            return _page(coordinator_error=error, status=400)
    membership.role = role
    audit.record(
        dbs,
        community_id=context.community.id,
        actor=context.coordinator,
        action="changed coordinator role",
        subject=f"coordinator:{coordinator.id}",
        email=coordinator.email,
        before=previous.value,
        after=role.value,
    )
    dbs.commit()
    flash(f"{coordinator.email} is now {role.value}.")
    return redirect(url_for("console.settings") + "#coordinators")


@bp.post("/settings/phone")
@requires(Role.COORDINATOR)
def coordinator_phone_register() -> ResponseReturnValue:
    """Register the signed-in coordinator's phone; a code is texted to it through the queue."""
    context = current()
    raw = request.form.get("phone", "").strip()[:40]
    dbs = db_session()
    community = dbs.get_one(Community, context.community.id)
    try:
        row = coordinator_phones.start_verification(
            dbs, context.coordinator, community, raw, clock.now()
        )
    except PhoneError as exc:
        dbs.rollback()
        return _page(phone_error=_sentence(str(exc)), phone_form=raw, status=400)
    audit.record(
        dbs,
        community_id=community.id,
        actor=context.coordinator,
        action="registered coordinator phone",
        subject=f"coordinator:{context.coordinator.id}",
        phone=mask(row.phone),
    )
    dbs.commit()
    outbox.hand_over(resources())
    flash("We texted a code to that phone: enter it below.")
    return redirect(url_for("console.settings") + "#phone")


@bp.post("/settings/phone/verify")
@requires(Role.COORDINATOR)
def coordinator_phone_verify() -> ResponseReturnValue:
    context = current()
    code = request.form.get("code", "").strip()[:8]
    dbs = db_session()
    take_sqlite_write_lock(dbs)
    throttle = LoginLimiter(resources().redis).throttle
    wait = throttle.hit("phone-code", str(context.coordinator.id), PHONE_CODES)
    if wait is not None:
        dbs.rollback()
        error = f"Too many wrong codes. Try again in {max(1, wait // 60)} minutes."
        return _page(phone_error=error, status=429)
    try:
        row = coordinator_phones.verify(
            dbs, context.coordinator, context.community, code, clock.now()
        )
    except PhoneError as exc:
        dbs.rollback()
        return _page(phone_error=_sentence(str(exc)), status=400)
    audit.record(
        dbs,
        community_id=context.community.id,
        actor=context.coordinator,
        action="verified coordinator phone",
        subject=f"coordinator:{context.coordinator.id}",
        phone=mask(row.phone),
    )
    dbs.commit()
    throttle.clear("phone-code", str(context.coordinator.id))
    flash("Phone verified: text HELP from it to the community's number.")
    return redirect(url_for("console.settings") + "#phone")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@bp.get("/settings/export.zip")
@requires(Role.OWNER)
def community_export() -> ResponseReturnValue:
    """The whole community as JSON + CSV in a ZIP (owners only; audited)."""
    context = current()
    dbs = db_session()
    now = clock.now()
    archive = export_zip(dbs, context.community, now)
    audit.record(
        dbs,
        community_id=context.community.id,
        actor=context.coordinator,
        action="exported community",
        subject=f"community:{context.community.id}",
    )
    dbs.commit()
    filename = f"handsup-{context.community.slug}-{now:%Y%m%d}.zip"
    return Response(
        archive,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
