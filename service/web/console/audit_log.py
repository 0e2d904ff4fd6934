"""Console pages: the audit log (who changed, exported, broadcast or saw a number, and when).

Owners and coordinators read it (viewers get 403); newest first, 50 a page, filterable by
action. Events are written by ``service.communities.audit.record``; this page only reads them.
"""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from service.models import AuditEvent, Role
from service.web.console import bp
from service.web.console.access import current, requires
from service.web.extensions import db_session
from service.web.params import page_value

PAGE_SIZE = 50


@bp.get("/audit")
@requires(Role.COORDINATOR)
def audit_log() -> ResponseReturnValue:
    community_id = current().community.id
    dbs = db_session()
    action = request.args.get("action", "").strip()[:40]
    page = page_value(request.args)
    actions = list(
        dbs.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.community_id == community_id)
            .distinct()
            .order_by(AuditEvent.action)
        )
    )
    where = [AuditEvent.community_id == community_id]
    if action:
        where.append(AuditEvent.action == action)
    total = dbs.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    events = list(
        dbs.scalars(
            select(AuditEvent)
            .where(*where)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    return render_template(
        "console/audit_log.html",
        events=events,
        actions=actions,
        action=action,
        page=page,
        pages=pages,
        total=total,
    )
