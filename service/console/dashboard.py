"""Console pages: the dashboard (what needs a coordinator's eye today)."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from service.console import bp
from service.console.access import current, requires
from service.models import Role


@bp.get("/")
@requires(Role.VIEWER)
def dashboard() -> ResponseReturnValue:
    return render_template("console/dashboard.html", community=current().community)
