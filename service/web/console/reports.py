"""Console pages: reports (hours served per volunteer and month with a bar chart, fill rate and
no-show rate of past shifts) and the hours CSV download (audited, formula cells neutralised).
"""

from __future__ import annotations

from flask import Response, render_template, request
from flask.typing import ResponseReturnValue

from service import clock
from service.communities import audit
from service.models import Role
from service.web.console import bp
from service.web.console.access import current, requires
from service.web.console.read_models.charts import Bar, bar_chart
from service.web.console.read_models.reports import (
    DEFAULT_MONTHS,
    PERIODS,
    Period,
    fill_rate,
    hours_by_month,
    hours_csv,
    hours_served,
    no_show_rate,
)
from service.web.extensions import db_session
from service.web.params import small_int


def _period() -> Period:
    months = small_int(request.args, "months")
    if months not in PERIODS:
        months = DEFAULT_MONTHS
    return Period.ending(current().community, clock.now(), months)


@bp.get("/reports")
@requires(Role.VIEWER)
def reports() -> ResponseReturnValue:
    dbs = db_session()
    community = current().community
    period = _period()
    rows = hours_served(dbs, community, period)
    monthly = hours_by_month(rows, period)
    chart = bar_chart(
        [Bar(month, hours) for month, hours in monthly],
        title=f"Hours served per month, last {len(period.months)} months",
        unit="h",
        chart_id="hours-chart",
    )
    return render_template(
        "console/reports_overview.html",
        period=period,
        periods=PERIODS,
        rows=rows,
        monthly=monthly,
        chart=chart,
        fill=fill_rate(dbs, community, period),
        no_show=no_show_rate(dbs, community, period),
        total_hours=round(sum(r.minutes for r in rows) / 60, 1),
    )


@bp.get("/reports/hours.csv")
@requires(Role.VIEWER)
def report_csv() -> ResponseReturnValue:
    context = current()
    dbs = db_session()
    period = _period()
    rows = hours_served(dbs, context.community, period)
    body = hours_csv(rows, context.phone)
    audit.record(
        dbs,
        community_id=context.community.id,
        actor=context.coordinator,
        action="exported",
        subject="hours.csv",
        months=len(period.months),
        rows=len(rows),
        numbers="full" if context.numbers_visible else "masked",
    )
    dbs.commit()
    filename = f"{context.community.slug}-hours-{period.months[0]}-{period.months[-1]}.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
