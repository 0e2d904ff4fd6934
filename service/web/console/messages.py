"""Console pages: the message log (every text in and out), newest first, filtered by status,
direction and kind, paged by keyset (``before`` = the last message id of the previous page).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from service.models import Direction, Message, MessageStatus, Role, Volunteer
from service.models.messages import MessageKind
from service.sending.delivery import message_log, reason_for
from service.web.console import bp
from service.web.console.access import current, requires, scoped
from service.web.extensions import db_session
from service.web.params import id_value

PAGE_SIZE = 50
KINDS = tuple(kind.value for kind in MessageKind)
STATUSES = tuple(s.value for s in MessageStatus)
DIRECTIONS = tuple(d.value for d in Direction)


@dataclass(frozen=True)
class Row:
    message: Message
    volunteer: Volunteer | None
    reason: str  # the delivery error in words, "" when none

    @property
    def address(self) -> str:
        """The volunteer's number: whom an outbound text went to, who sent an inbound one."""
        if self.volunteer is not None:
            return self.volunteer.phone
        raw = (
            self.message.from_address
            if self.message.direction == Direction.INBOUND
            else self.message.to_address
        )
        return raw.removeprefix("whatsapp:")


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name, "")
    return value if value in allowed else None


@bp.get("/messages")
@requires(Role.VIEWER)
def messages() -> ResponseReturnValue:
    dbs = db_session()
    community = current().community
    filters = {
        "status": _choice("status", STATUSES),
        "direction": _choice("direction", DIRECTIONS),
        "kind": _choice("kind", KINDS),
    }
    before_id = id_value(request.args, "before")
    before = scoped(dbs, Message, before_id) if before_id is not None else None
    found = message_log(dbs, community, before=before, limit=PAGE_SIZE + 1, **filters)
    page = found[:PAGE_SIZE]
    ids = {m.volunteer_id for m in page if m.volunteer_id is not None}
    volunteers = (
        {v.id: v for v in dbs.scalars(select(Volunteer).where(Volunteer.id.in_(ids)))}
        if ids
        else {}
    )
    rows = [
        Row(
            m,
            volunteers.get(m.volunteer_id) if m.volunteer_id else None,
            reason_for(m.error_code, m.error_message or "")
            if m.error_code is not None or m.error_message
            else "",
        )
        for m in page
    ]
    active = {k: v for k, v in filters.items() if v}
    return render_template(
        "console/messages_list.html",
        rows=rows,
        filters=active,
        more=len(found) > PAGE_SIZE,
        paged=before is not None,
        statuses=STATUSES,
        directions=DIRECTIONS,
        kinds=KINDS,
    )
