"""Console pages: the dashboard (what needs a coordinator's eye today).

The figures come from ``service.dashboard.build``: a fixed handful of queries.
"""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from service import clock
from service.console import bp
from service.console.access import current, requires
from service.dashboard import build
from service.extensions import db_session
from service.models import Role


@bp.get("/")
@requires(Role.VIEWER)
def dashboard() -> ResponseReturnValue:
    context = current()
    board = build(db_session(), context.community, clock.now())
    return render_template("console/dashboard.html", community=context.community, board=board)
