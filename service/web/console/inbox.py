"""Console pages: the inbox as conversations, one thread per volunteer (read model in
``read_models/inbox.py``): by default the threads with texts the service did not understand or
HELP requests; filters for media and call-out answers.

A coordinator answers a thread with a direct text, which goes through the send gate like any
other (an opted-out volunteer is never texted, quiet hours hold), or marks the whole thread
handled. The forms name one text of the thread (``message_id``): the one a reply answers.
"""

from __future__ import annotations

import re
import secrets

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service import clock
from service.communities import audit
from service.conversations.attention import mark_thread_handled
from service.models import Direction, Message, MessageKind, MessageStatus, Role, Volunteer
from service.sending import outbox
from service.sending.broadcasts import MAX_TEXT_LENGTH, render
from service.sending.queue import queue_message
from service.web.console import bp, local_time
from service.web.console.access import current, requires, scoped
from service.web.console.read_models.inbox import InboxFilter, inbox_page
from service.web.extensions import db_session, resources
from service.web.params import page_value

NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _render(
    errors: dict[int, str] | None = None, drafts: dict[int, str] | None = None, code: int = 200
) -> ResponseReturnValue:
    try:
        which = InboxFilter(request.args.get("show", InboxFilter.ATTENTION))
    except ValueError:
        which = InboxFilter.ATTENTION
    page_number = page_value(request.args)
    found = inbox_page(db_session(), current().community, which, page_number)
    page = render_template(
        "console/inbox_list.html",
        inbox=found,
        filters=list(InboxFilter),
        nonces={t.key: secrets.token_urlsafe(12) for t in found.threads},
        errors=errors or {},
        drafts=drafts or {},
        max_length=MAX_TEXT_LENGTH,
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
    mark_thread_handled(dbs, inbound, clock.now())
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
    handled = mark_thread_handled(dbs, inbound, clock.now())
    if handled:
        audit.record(
            dbs,
            community_id=context.community.id,
            actor=context.coordinator,
            action="marked handled",
            subject=f"message:{inbound.id}",
            texts=handled,
        )
    dbs.commit()
    flash(f"Marked handled ({handled} text{'' if handled == 1 else 's'}).")
    return redirect(url_for("console.inbox"))
