"""Console pages: the dashboard (what needs a coordinator's eye today).

The figures come from ``service.web.console.read_models.dashboard.build``: a fixed handful
of queries.
"""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from service import clock
from service.models import Role
from service.web.console import bp
from service.web.console.access import current, requires
from service.web.console.read_models.dashboard import build
from service.web.extensions import db_session


@bp.get("/")
@requires(Role.VIEWER)
def dashboard() -> ResponseReturnValue:
    context = current()
    board = build(db_session(), context.community, clock.now())
    return render_template("console/dashboard.html", community=context.community, board=board)
