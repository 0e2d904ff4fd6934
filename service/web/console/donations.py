"""Console pages: donation rosters — the next cycles' coverage per need, adding a need, and one
cycle's pledges.

Reading never creates cycles (``roster_overview`` shows a cycle nobody pledged for yet from the
needs alone); adding a need calls ``donations.add_need``.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from service import clock
from service.communities import audit
from service.models import Cycle, Role
from service.rosters import donations
from service.web.console import bp
from service.web.console.access import current, requires, scoped
from service.web.console.read_models.rosters import cycle_detail, donation_overview, schedule_for
from service.web.extensions import db_session

ITEM_MAX, UNIT_MAX, QUANTITY_MAX = 60, 20, 100_000


def render_overview(
    error: str = "", values: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    context = current()
    overview = donation_overview(db_session(), context.community, clock.now())
    return (
        render_template(
            "console/donations_list.html",
            overview=overview,
            weekdays=donations.WEEKDAYS,
            error=error,
            values=values or {},
        ),
        status,
    )


# The endpoint is ``console.donations``; the function has another name, as ``donations`` is
# the service module here.
@bp.get("/donations", endpoint="donations")
@requires(Role.VIEWER)
def donations_page() -> ResponseReturnValue:
    return render_overview()


@bp.post("/donations/needs")
@requires(Role.COORDINATOR)
def need_new() -> ResponseReturnValue:
    context = current()
    session = db_session()
    values = {name: request.form.get(name, "").strip() for name in ("item", "quantity", "unit")}
    values["cycle_day"] = request.form.get("cycle_day", "").strip()
    item, unit = values["item"], values["unit"]
    problem = ""
    quantity = 0
    try:
        quantity = int(values["quantity"])
    except ValueError:
        problem = "How much is needed each cycle must be a whole number."
    if not problem and not 1 <= quantity <= QUANTITY_MAX:
        problem = f"How much is needed must be between 1 and {QUANTITY_MAX}."
    if not item:
        problem = "Say what is needed (for example Rice)."
    elif len(item) > ITEM_MAX:
        problem = f"The item can be at most {ITEM_MAX} characters."
    elif len(unit) > UNIT_MAX:
        problem = f"The unit can be at most {UNIT_MAX} characters."
    schedule = schedule_for(session, context.community)
    weekday = schedule.weekday if schedule is not None else None
    if schedule is None:  # the first need also sets the drop-off day
        try:
            weekday = donations.parse_weekday(values["cycle_day"])
        except donations.DonationError:
            problem = problem or "Choose the drop-off day."
    if problem:
        return render_overview(problem, values, 400)
    try:
        need = donations.add_need(
            session,
            context.community,
            weekday=5 if weekday is None else weekday,
            item=item,
            quantity=quantity,
            unit=unit,
        )
    except donations.DonationError as exc:
        session.rollback()
        return render_overview(str(exc).replace("--", ""), values, 400)
    audit.record(
        session,
        community_id=context.community.id,
        actor=context.coordinator,
        action="created",
        subject=f"need:{need.id}",
        item=need.item,
        target=need.target,
        unit=need.unit,
    )
    session.commit()
    flash(f"Added {need.target} {need.unit} {need.item} to every cycle.".replace("  ", " "))
    return redirect(url_for("console.donations"))


@bp.get("/donations/cycles/<int:cycle_id>")
@requires(Role.VIEWER)
def cycle(cycle_id: int) -> ResponseReturnValue:
    context = current()
    session = db_session()
    found = scoped(session, Cycle, cycle_id)
    now = clock.now()
    coverage, pledges = cycle_detail(session, context.community, found, now)
    return render_template(
        "console/donations_cycle.html", cycle=found, coverage=coverage, pledges=pledges, now=now
    )
