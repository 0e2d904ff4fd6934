"""Console pages: the inbox (inbound texts the service did not understand, and HELP requests).

A coordinator answers one with a direct text, which goes through the send gate like any other
(an opted-out volunteer is never texted, quiet hours hold), or marks it handled.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from service import clock
from service.communities import audit
from service.models import Direction, Message, MessageKind, MessageStatus, Role, Volunteer
from service.sending import outbox
from service.sending.broadcasts import MAX_TEXT_LENGTH, render
from service.sending.queue import queue_message
from service.web.console import bp, local_time
from service.web.console.access import current, requires, scoped
from service.web.extensions import db_session, resources

PAGE_SIZE = 50
# Badges for why a text is in the inbox (``Message.attention``); "unknown" is the default.
ATTENTION_LABELS = {
    "help": "HELP",
    "media": "photo or file",
    "location": "location",
    "unmatched": "short code or sender ID: cannot be answered",
}
NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")


@dataclass(frozen=True)
class InboxItem:
    message: Message
    volunteer: Volunteer | None
    replies: tuple[Message, ...]  # what the service answered
    nonce: str  # identifies this reply form, so a double submit sends once


def _items(before: Message | None) -> tuple[list[InboxItem], bool]:
    dbs = db_session()
    query = (
        select(Message, Volunteer)
        .outerjoin(Volunteer, Volunteer.id == Message.volunteer_id)
        .where(
            Message.community_id == current().community.id,
            Message.direction == Direction.INBOUND,
            Message.attention.is_not(None),
            Message.attended_at.is_(None),
        )
    )
    if before is not None:
        query = query.where(
            or_(
                Message.created_at < before.created_at,
                and_(Message.created_at == before.created_at, Message.id < before.id),
            )
        )
    rows = dbs.execute(
        query.order_by(Message.created_at.desc(), Message.id.desc()).limit(PAGE_SIZE + 1)
    ).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    replies: dict[int, list[Message]] = {}
    ids = [m.id for m, _ in rows]
    if ids:
        for reply in dbs.scalars(
            select(Message)
            .where(Message.reply_to_id.in_(ids), Message.direction == Direction.OUTBOUND)
            .order_by(Message.id)
        ):
            if reply.reply_to_id is not None:
                replies.setdefault(reply.reply_to_id, []).append(reply)
    items = [
        InboxItem(m, v, tuple(replies.get(m.id, ())), secrets.token_urlsafe(12)) for m, v in rows
    ]
    return items, more


def _render(
    errors: dict[int, str] | None = None, drafts: dict[int, str] | None = None, code: int = 200
) -> ResponseReturnValue:
    before_id = request.args.get("before", type=int)
    before = None
    if before_id is not None:
        before = scoped(db_session(), Message, before_id)
    items, more = _items(before)
    page = render_template(
        "console/inbox_list.html",
        items=items,
        more=more,
        paged=before is not None,
        errors=errors or {},
        drafts=drafts or {},
        max_length=MAX_TEXT_LENGTH,
        attention_labels=ATTENTION_LABELS,
    )
    return page, code


@bp.get("/inbox")
@requires(Role.VIEWER)
def inbox() -> ResponseReturnValue:
    return _render()


def _inbound(message_id: int) -> Message:
    message = scoped(db_session(), Message, message_id)
    if message.direction != Direction.INBOUND:
        abort(404)
    return message


@bp.post("/inbox/<int:message_id>/reply")
@requires(Role.COORDINATOR)
def inbox_reply(message_id: int) -> ResponseReturnValue:
    context = current()
    dbs = db_session()
    inbound = _inbound(message_id)
    nonce = request.form.get("nonce", "")
    if not NONCE.fullmatch(nonce):
        abort(400)
    text = request.form.get("text", "").strip()
    error = None
    if not text:
        error = "Write a reply first."
    elif len(text) > MAX_TEXT_LENGTH:
        error = f"A reply can be at most {MAX_TEXT_LENGTH} characters."
    volunteer = dbs.get(Volunteer, inbound.volunteer_id) if inbound.volunteer_id else None
    if error is None and volunteer is None:
        error = "This volunteer's record was erased; there is no one to reply to."
    if error is not None or volunteer is None:
        dbs.rollback()
        return _render({message_id: error or ""}, {message_id: text}, 400)
    key = f"direct:{inbound.id}:{nonce}"
    duplicate = dbs.scalar(select(Message.id).where(Message.idempotency_key == key)) is not None
    reply = queue_message(
        dbs,
        volunteer=volunteer,
        body=render(context.community, volunteer.language, text),
        kind=MessageKind.DIRECT,
        idempotency_key=key,
    )
    if not duplicate:
        reply.reply_to_id = inbound.id
        audit.record(
            dbs,
            community_id=context.community.id,
            actor=context.coordinator,
            action="replied",
            subject=f"message:{inbound.id}",
            reply_id=reply.id,
            status=reply.status.value,
        )
    if inbound.attended_at is None:
        inbound.attended_at = clock.now()
    status, decision, due = reply.status, reply.decision, reply.not_before
    try:
        dbs.commit()
    except IntegrityError:  # the same form submitted twice at once: the other one sent it
        dbs.rollback()
        duplicate = True
    outbox.hand_over(resources())
    if duplicate:
        flash("That reply was already sent; it was not sent again.")
    elif status == MessageStatus.SUPPRESSED:
        flash(f"Not sent: {decision or 'the send gate held it'}. The text is marked handled.")
    elif decision:
        flash(f"Reply queued; it goes out at {local_time(due)} ({decision}).")
    else:
        flash("Reply queued; it goes out now.")
    return redirect(url_for("console.inbox"))


@bp.post("/inbox/<int:message_id>/done")
@requires(Role.COORDINATOR)
def inbox_done(message_id: int) -> ResponseReturnValue:
    context = current()
    dbs = db_session()
    inbound = _inbound(message_id)
    if inbound.attended_at is None:
        inbound.attended_at = clock.now()
        audit.record(
            dbs,
            community_id=context.community.id,
            actor=context.coordinator,
            action="marked handled",
            subject=f"message:{inbound.id}",
        )
    dbs.commit()
    flash("Marked handled.")
    return redirect(url_for("console.inbox"))
