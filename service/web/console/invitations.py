"""Console pages: accepting an invitation to help run a community (the owner's side is in
``settings``). Reachable signed out: the link's token is the invitee's key. The invitee
accepts signed in as the invited email, signs in on the page, or creates their account.
Thin views over ``service.communities.invitations``.
"""

from __future__ import annotations

from flask import abort, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError

from service import clock
from service.communities import audit
from service.communities import invitations as invites
from service.communities.accounts import AccountError, find_existing, verify_password
from service.models import Community, Coordinator, Invitation
from service.web.console import bp
from service.web.console.auth import _client_ip, _complete_login, _limiter, _throttled
from service.web.extensions import db_session

GONE = "This invitation link does not work any more: ask for a new one."


def _signed_in(invitation: Invitation) -> Coordinator | None:
    """The signed-in coordinator, when the session is valid and holds the invited email."""
    coordinator_id = session.get("coordinator_id")
    if not isinstance(coordinator_id, int):
        return None
    coordinator = db_session().get(Coordinator, coordinator_id)
    if coordinator is None or coordinator.session_epoch != session.get("epoch"):
        return None
    return coordinator if coordinator.email == invitation.email else None


def _page(
    invitation: Invitation | None, token: str, error: str = "", status: int = 200
) -> ResponseReturnValue:
    dbs = db_session()
    community = dbs.get(Community, invitation.community_id) if invitation else None
    return render_template(
        "console/invitation.html",
        invitation=invitation,
        token=token,
        community_name=community.name if community else "",
        signed_in=invitation is not None and _signed_in(invitation) is not None,
        error=error,
    ), status


@bp.route("/invitation", methods=["GET", "POST"])
def invitation() -> ResponseReturnValue:
    source = request.args if request.method == "GET" else request.form
    token = source.get("token", "")[:100]
    dbs = db_session()
    now = clock.now()
    found = invites.find_open(dbs, token, now)
    if found is None:
        return _page(None, "", GONE, 404)
    if request.method == "GET":
        return _page(found, token)
    action = request.form.get("action", "")
    password = request.form.get("password", "")[:1024]
    if action == "password":  # the page's one form: it never says whether the account exists
        action = "sign-in" if find_existing(dbs, found.email) is not None else "create"
    new_account = False
    if action == "accept":
        coordinator = _signed_in(found)
        if coordinator is None:
            return _page(found, token, "Sign in as the invited email first.", 403)
    elif action == "sign-in":
        try:
            wait = _limiter().attempt(found.email, _client_ip())
            if wait is not None:
                return _throttled(wait)
            existing = find_existing(dbs, found.email)
            if existing is None or not verify_password(existing, password):
                return _page(found, token, "That password is not right.", 401)
            _limiter().succeeded(found.email, _client_ip())
        except RedisError:
            abort(503)
        coordinator = existing
    elif action == "create":
        try:
            coordinator = invites.create_account(dbs, found, password)
        except AccountError as exc:
            dbs.rollback()
            return _page(found, token, str(exc)[:1].upper() + str(exc)[1:] + ".", 400)
        new_account = True
    else:
        abort(400)
    invites.accept(dbs, found, coordinator, now)
    if new_account:
        audit.record(
            dbs,
            community_id=found.community_id,
            actor=coordinator,
            action="created account",
            subject=f"coordinator:{coordinator.id}",
            invited_by=found.invited_by_id,
            email_verified=False,
        )
    audit.record(
        dbs,
        community_id=found.community_id,
        actor=coordinator,
        action="accepted invitation",
        subject=f"coordinator:{coordinator.id}",
        role=found.role.value,
        invited_by=found.invited_by_id,
    )
    dbs.commit()
    if coordinator.totp_enabled_at is not None and action != "accept":
        return _complete_login_with_code(coordinator)
    response = _complete_login(coordinator, url_for("console.dashboard"))
    session["community_id"] = found.community_id
    return response


def _complete_login_with_code(coordinator: Coordinator) -> ResponseReturnValue:
    """An account with two-factor still enters its code after accepting."""
    session.clear()
    session["pending_coordinator_id"] = coordinator.id
    session["pending_epoch"] = coordinator.session_epoch
    session["next"] = url_for("console.dashboard")
    return redirect(url_for("console.login_code"))
