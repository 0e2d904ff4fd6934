"""Twilio webhooks: thin views that validate the signature, parse the form, call the shell.

``POST /twilio/inbound`` answers TwiML with the immediate reply; ``POST /twilio/status``
records delivery status. Every request must carry a valid ``X-Twilio-Signature`` computed
over ``PUBLIC_BASE_URL`` + path (so validation works behind a PaaS proxy) and every form field.
While the database is unreachable both answer 503 with ``Retry-After``
(``service.web.unavailable``), never a 500: Twilio's retry of the same MessageSid is then
stored once and answered.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.datastructures import MultiDict

from service import clock
from service.conversations.inbound import (
    MAX_BODY_LENGTH,
    InboundMessage,
    UnknownDestination,
    handle_inbound,
)
from service.sending import outbox
from service.sending.delivery import record_status
from service.volunteers.phones import InvalidPhoneNumber, mask, parse_twilio_address
from service.web import input_guard, unavailable
from service.web.extensions import db_session, resources

log = logging.getLogger(__name__)

bp = Blueprint("twilio", __name__, url_prefix="/twilio")
unavailable.init_blueprint(bp)

MAX_SID_LENGTH = 64


class BadWebhook(ValueError):
    """A webhook request that cannot be a real Twilio message."""


@bp.before_request
def require_twilio_signature() -> None:
    settings = resources().settings
    token = settings.twilio_auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        abort(403)
    url = request.url
    if settings.public_base_url:
        url = settings.public_base_url + request.full_path.rstrip("?")
    if not RequestValidator(token).validate(url, request.form, signature):
        log.warning("twilio: rejected request with a bad signature for %s", request.path)
        abort(403)


input_guard.init_blueprint(bp)  # after the signature check: unsigned requests stay 403


@bp.post("/inbound")
def inbound() -> Response:
    try:
        message = parse_inbound(request.form)
    except BadWebhook as exc:
        return Response(f"Bad request: {exc}\n", status=400, mimetype="text/plain")
    session = db_session()
    try:
        result = handle_inbound(session, message, clock.now())
    except UnknownDestination:
        log.warning("twilio: inbound to unknown number %s; ignored", mask(message.to))
        return twiml(())
    if result.queued:  # most texts queue nothing; the worker's pump is the safety net
        outbox.hand_over(resources())
    return twiml(result.replies)


@bp.post("/status")
def status() -> Response:
    sid = request.form.get("MessageSid", "").strip()
    new_status = request.form.get("MessageStatus", "").strip().lower()
    if not sid or not new_status or len(sid) > MAX_SID_LENGTH:
        return Response("Bad request: MessageSid and MessageStatus are required\n", status=400)
    raw_code = request.form.get("ErrorCode", "").strip()
    if raw_code and not raw_code.isdigit():
        return Response("Bad request: ErrorCode must be a number\n", status=400)
    raw_id = request.args.get("m", "").strip()  # our message id, from the callback URL we set
    message_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() and len(raw_id) < 19 else None
    record_status(
        db_session(),
        sid,
        new_status,
        int(raw_code) if raw_code else None,
        clock.now(),
        message_id=message_id,
    )
    return Response(status=204)


def parse_inbound(form: MultiDict[str, str]) -> InboundMessage:
    sid = form.get("MessageSid", "").strip()
    if not sid or len(sid) > MAX_SID_LENGTH:
        raise BadWebhook("MessageSid is missing or too long")
    body = form.get("Body", "")
    if len(body) > MAX_BODY_LENGTH:
        raise BadWebhook(f"Body is longer than {MAX_BODY_LENGTH} characters")
    raw_media = form.get("NumMedia", "0").strip() or "0"
    if not raw_media.isdigit() or int(raw_media) > 10:
        raise BadWebhook("NumMedia must be a number from 0 to 10")
    try:
        sender = parse_twilio_address(form.get("From", ""))
        to = parse_twilio_address(form.get("To", ""))
    except InvalidPhoneNumber as exc:
        raise BadWebhook(f"From/To: {exc}") from None
    if sender.kind != to.kind:
        raise BadWebhook("From and To are on different channels")
    return InboundMessage(
        sid=sid,
        kind=to.kind,
        sender=sender.e164,
        to=to.e164,
        body=body.strip(),
        num_media=int(raw_media),
    )


def twiml(replies: tuple[str, ...] | list[str]) -> Response:
    response = MessagingResponse()
    for text in replies:
        response.message(text)
    return Response(str(response), mimetype="text/xml")
