"""The coordinator console: server-rendered pages under ``/console``.

One blueprint; each area is a module that adds its views to ``bp`` (``dashboard``,
``volunteers``, ``shifts``, ``donations``, ``inbox``, ``broadcasts``, ``messages``, ``reports``,
``settings``, ``audit_log``), with its templates in ``service/templates/console/``.

Rules every view follows (the tenant test walks the URL map to hold them):
- ``g.console`` is loaded before each view (``access.load_context``); a request without a
  valid session is sent to the login page.
- Objects named in a URL are fetched with ``access.scoped`` (404 outside the community).
  URL arguments are named after what they identify: ``volunteer_id``, ``shift_id``,
  ``assignment_id``, ``roster_id``, ``need_id``, ``cycle_id``, ``message_id``,
  ``broadcast_id``.
- State-changing views are POST, carry the CSRF token and declare ``@requires(Role.X)``;
  viewers never change anything.
- Numbers are shown with ``console.phone(...)`` (masked for viewers and in protected
  communities); showing a full number is an audited action.
Imports ``service`` modules and Flask; views stay thin and call service functions.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from service.models import Role
from service.volunteers.phones import mask
from service.web import input_guard
from service.web.console.access import load_context
from service.web.extensions import db_session

bp = Blueprint("console", __name__, url_prefix="/console")
input_guard.init_blueprint(bp)  # first: a NUL in a search or form is a 400, signed in or not

# Reachable without a session.
PUBLIC_ENDPOINTS = frozenset({"console.login", "console.login_code", "console.invitation"})
# Reachable while a community's required two-factor enrolment is still missing.
ENROLMENT_ENDPOINTS = frozenset({"console.totp_setup", "console.logout", "console.switch"})
# Changes only the coordinator's own session or account: open to viewers too.
SELF_SERVICE_ENDPOINTS = ENROLMENT_ENDPOINTS


@bp.before_request
def load_console_context() -> ResponseReturnValue | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    coordinator_id = session.get("coordinator_id")
    context = None
    if isinstance(coordinator_id, int):
        context = load_context(
            db_session(), coordinator_id, session.get("epoch", -1), session.get("community_id")
        )
    if context is None:
        if coordinator_id is not None:  # signed out elsewhere (password reset, removed)
            session.clear()
        target = request.full_path if request.method == "GET" else ""
        return redirect(url_for("console.login", next=target))
    g.console = context
    if context.community.id != session.get("community_id"):
        session["community_id"] = context.community.id
    if (
        context.community.require_totp
        and context.coordinator.totp_enabled_at is None
        and request.endpoint not in ENROLMENT_ENDPOINTS
    ):
        return redirect(url_for("console.totp_setup"))
    if (
        request.method not in ("GET", "HEAD")
        and request.endpoint not in SELF_SERVICE_ENDPOINTS
        and not context.role.allows(Role.COORDINATOR)
    ):
        return render_error(403)
    return None


@bp.app_template_filter("local")
def local_time(moment: datetime | None, fmt: str = "%a %d %b %H:%M") -> str:
    """A UTC datetime in the current community's time zone."""
    if moment is None:
        return ""
    context = g.get("console")
    zone = ZoneInfo(context.community.timezone) if context is not None else None
    return moment.astimezone(zone).strftime(fmt)


@bp.app_template_filter("phone")
def phone_filter(e164: str | None) -> str:
    context = g.get("console")
    if context is None:
        return mask(e164) if e164 else ""
    return str(context.phone(e164))


@bp.context_processor
def console_globals() -> dict[str, object]:
    return {"console": g.get("console"), "may_open": may_open}


def may_open(endpoint: str) -> bool:
    """The page exists and the signed-in role may open it: the navigation shows only those."""
    view = current_app.view_functions.get(endpoint)
    context = g.get("console")
    if view is None or context is None:
        return False
    return bool(context.role.allows(getattr(view, "required_role", Role.VIEWER)))


ERROR_TEXT = {
    400: "That request was not understood.",
    403: "Your role in this community does not allow that.",
    404: "Nothing here: it does not exist in this community.",
    405: "That page does not accept this kind of request.",
    413: "That upload is too large.",
    429: "Too many attempts. Wait a few minutes and try again.",
    503: "The service is briefly unavailable. Try again in a moment.",
}


def render_error(code: int, text: str | None = None) -> ResponseReturnValue:
    message = text or ERROR_TEXT.get(code, "Something went wrong.")
    return render_template("console/error.html", code=code, message=message), code


@bp.errorhandler(HTTPException)
def console_http_error(error: HTTPException) -> ResponseReturnValue:
    return render_error(error.code or 500, None)


def handle_csrf_error(error: CSRFError) -> ResponseReturnValue:
    text = "This form has expired or did not come from this site. Reload the page and try again."
    if request.path.startswith("/console"):
        return render_error(400, text)
    return text, 400


def init_app(app: Flask) -> None:
    from service.web.console import (  # noqa: F401 - each module adds its views to ``bp``
        audit_log,
        auth,
        broadcasts,
        dashboard,
        donations,
        inbox,
        invitations,
        media,
        messages,
        reports,
        settings,
        shifts,
        volunteers,
    )

    app.register_blueprint(bp)
    # The navigation links only to pages that exist.
    app.config["CONSOLE_ENDPOINTS"] = frozenset(
        rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("console.")
    )
    app.register_error_handler(CSRFError, handle_csrf_error)

    @app.get("/")
    def index() -> ResponseReturnValue:
        return redirect(url_for("console.dashboard"))

    @app.get("/favicon.ico")
    def favicon() -> ResponseReturnValue:
        # Browsers ask for it on every first visit; without it each page logs a 404.
        return send_from_directory(
            app.static_folder or "static", "favicon.ico", mimetype="image/x-icon", max_age=86400
        )
