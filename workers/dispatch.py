"""Send one queued outbound message through its channel's sender, exactly once.

The job claims the row atomically (pending → sending) before calling the provider, so a job
run twice, or two workers racing, send once. At send time it re-checks the opt-out.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service import callouts, clock
from service.db import unit_of_work, utcnow
from service.delivery import UNSUBSCRIBED
from service.effects import opt_out
from service.models import Channel, Community, Message, MessageStatus, Volunteer
from service.models.messages import QUIET_HOURS_KINDS, provider_status
from service.phones import mask
from service.quiet_hours import quiet_until
from workers.outbox import Defer
from workers.runtime import runtime
from workers.senders import PermanentSendError, SendError, TransientSendError

log = logging.getLogger(__name__)


def send_message(message_id: int) -> str:
    """Send message ``message_id`` if it is still pending. Returns what happened."""
    rt = runtime()
    with unit_of_work(rt.session_factory) as session:
        claimed = session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status == MessageStatus.PENDING)
            .values(status=MessageStatus.SENDING, updated_at=utcnow())
        ).rowcount  # type: ignore[attr-defined]
        if not claimed:
            return "skipped: not pending"
        message = session.get_one(Message, message_id)
        volunteer = session.get(Volunteer, message.volunteer_id) if message.volunteer_id else None
        channel = session.get(Channel, message.channel_id) if message.channel_id else None
        if volunteer is not None and volunteer.status == VolunteerStatus.OPTED_OUT:
            message.status = MessageStatus.SUPPRESSED
            message.error_message = "recipient opted out"
            return "suppressed: opted out"
        if message.callout_id is not None and not callouts.is_open(session, message.callout_id):
            message.status = MessageStatus.SUPPRESSED
            message.error_message = "call-out already filled"
            return "suppressed: call-out filled"
        if channel is None:
            message.status = MessageStatus.FAILED
            message.error_message = "no channel to send from"
            return "failed: no channel"
        wait_until = _quiet_hours_end(session, message)
        if wait_until is not None:
            message.status = MessageStatus.PENDING
            message.error_message = f"waiting for quiet hours to end ({wait_until:%H:%M} UTC)"
        kind, from_, to, body = channel.kind, message.from_address, message.to_address, message.body
    if wait_until is not None:
        raise Defer(wait_until)

    callback = None
    if rt.settings.public_base_url:
        callback = rt.settings.public_base_url + "/twilio/status"
    try:
        result = rt.senders.for_kind(kind).send(
            from_=from_, to=to, body=body, status_callback=callback
        )
    except TransientSendError as exc:
        _record_error(message_id, MessageStatus.PENDING, exc)  # pending again: retried later
        raise
    except PermanentSendError as exc:
        _record_error(message_id, MessageStatus.FAILED, exc)
        log.warning("send %s to %s failed: %s", message_id, mask(to), exc)
        return f"failed: {exc.code}"

    with unit_of_work(rt.session_factory) as session:
        message = session.get_one(Message, message_id)
        message.twilio_sid = result.sid
        message.status = provider_status(result.status) or MessageStatus.QUEUED
        message.sent_at = utcnow()
    return f"sent: {result.sid}"


def _record_error(message_id: int, status: MessageStatus, error: SendError) -> None:
    """Store the provider's error; a carrier-level unsubscribe (21610) is also our opt-out."""
    with unit_of_work(runtime().session_factory) as session:
        message = session.get_one(Message, message_id)
        message.status = status
        message.error_code = error.code
        message.error_message = str(error)[:255]
        if error.code == UNSUBSCRIBED and message.volunteer_id is not None:
            volunteer = session.get(Volunteer, message.volunteer_id)
            if volunteer is not None:
                opt_out(volunteer, f"carrier:{UNSUBSCRIBED}", utcnow())


def _quiet_hours_end(session: Session, message: Message) -> datetime | None:
    """When a non-urgent message must wait for quiet hours to end; None to send now."""
    if message.kind not in QUIET_HOURS_KINDS:
        return None
    community = session.get_one(Community, message.community_id)
    end = quiet_until(community, clock.now())
    if end is None or (message.send_before is not None and end >= message.send_before):
        return None
    return end
