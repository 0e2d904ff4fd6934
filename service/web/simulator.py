"""The local phone simulator (development only): text a community from the browser.

It calls the same ``handle_inbound`` as the Twilio webhook, over the community's simulator
channel, and shows the conversation from the message log (including queued outbound texts).
"""

from __future__ import annotations

import secrets
from datetime import UTC
from zoneinfo import ZoneInfo

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import or_, select

from service import clock
from service.conversations.inbound import MAX_BODY_LENGTH, InboundMessage, handle_inbound
from service.models import Channel, ChannelKind, Community, Message
from service.sending import outbox
from service.volunteers.phones import InvalidPhoneNumber, to_e164
from service.web import input_guard
from service.web.extensions import db_session, resources

bp = Blueprint("simulator", __name__, url_prefix="/simulator")
input_guard.init_blueprint(bp)


@bp.get("/")
def phone() -> ResponseReturnValue:
    session = db_session()
    communities = session.scalars(select(Community).order_by(Community.name)).all()
    slug = request.args.get("community") or (communities[0].slug if communities else "")
    number = request.args.get("phone", "").strip()
    community = next((c for c in communities if c.slug == slug), None)
    error = request.args.get("error", "")
    if community is not None and number and not error:
        try:
            number = to_e164(number, community.country)
        except InvalidPhoneNumber as exc:
            error = str(exc)
    messages: list[Message] = []
    if community is not None and number:
        messages = list(
            session.scalars(
                select(Message)
                .where(
                    Message.community_id == community.id,
                    or_(Message.from_address == number, Message.to_address == number),
                )
                .order_by(Message.created_at.desc(), Message.id.desc())  # as the phone got them
                .limit(50)
            ).all()
        )[::-1]
    return render_template(
        "simulator.html",
        communities=communities,
        community=community,
        zone=ZoneInfo(community.timezone) if community is not None else UTC,
        phone=number,
        messages=messages,
        error=error,
    )


@bp.post("/")
def send() -> ResponseReturnValue:
    session = db_session()
    slug = request.form.get("community", "")
    raw_phone = request.form.get("phone", "")
    body = request.form.get("body", "").strip()[:MAX_BODY_LENGTH]
    community = session.scalar(select(Community).where(Community.slug == slug))
    if community is None:
        return redirect(url_for(".phone", error="Pick a community."))
    try:
        phone = to_e164(raw_phone, community.country)
    except InvalidPhoneNumber as exc:
        return redirect(url_for(".phone", community=slug, phone=raw_phone, error=str(exc)))
    channel = session.scalar(
        select(Channel).where(
            Channel.community_id == community.id, Channel.kind == ChannelKind.SIMULATOR
        )
    )
    if channel is None:
        return redirect(url_for(".phone", community=slug, error="No simulator channel."))
    inbound = InboundMessage(
        sid=f"SIM{secrets.token_hex(16)}",
        kind=ChannelKind.SIMULATOR,
        sender=phone,
        to=channel.address,
        body=body,
    )
    handle_inbound(session, inbound, clock.now())
    outbox.hand_over(resources())
    return redirect(url_for(".phone", community=slug, phone=phone))
