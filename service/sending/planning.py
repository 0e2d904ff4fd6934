"""Dispatch planning: for the rows a send job has claimed, what the send gate decides and how
each send goes on the wire (sender, addresses, template variables, status callback), and the
pacing of any route whose bucket the dispatcher did not charge.

The dispatcher charges the bucket of a row's current channel. A send that leaves by another
sender (the gate's SMS fallback for WhatsApp, at plan time or after a 63016 answer) takes a
token from that sender's bucket first; without one the row waits, on that route, for the
bucket's next token, so the next dispatch paces it on the right sender. The send job
(``workers.dispatch``) only carries a plan out: it sends and records.

Imports SQLAlchemy, ``flows.menus``, ``service.models`` and ``service.sending`` (never
``workers``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.menus import Menu
from service.models import (
    CallOut,
    CallOutStatus,
    Channel,
    Community,
    Message,
    MessageStatus,
    Volunteer,
)
from service.sending import eligibility, interactive
from service.sending.gate import (
    DeferSend,
    Outbound,
    RouteKind,
    Send,
    Sender,
    Suppress,
    decide,
    rules_for,
    sender_for,
)
from service.sending.pacing import TokenBuckets
from service.sending.queue import NO_CHANNEL


@dataclass(frozen=True)
class WireRoute:
    """Where a message goes on the wire: the sender (channel, ``From``, bucket), the
    recipient's address, and the WhatsApp template when it is one (``interactive``: a content
    template that shows the row's menu, not an approved template around its text)."""

    sender: Sender
    to_address: str
    content_sid: str | None = None
    interactive: bool = False


@dataclass(frozen=True)
class Attempt:
    """One request to the provider: its route, text or template variables, status callback,
    and the note the row keeps once the provider accepts it."""

    route: WireRoute
    body: str
    note: str
    content_variables: Mapping[str, str] = field(default_factory=dict)
    status_callback: str | None = None


@dataclass(frozen=True)
class PlannedSend:
    message_id: int
    volunteer_id: int | None
    first: Attempt
    # WhatsApp free text: what to do if the provider answers that the window has closed.
    if_window_closed: Attempt | Suppress | None = None


@dataclass(frozen=True)
class Settle:
    """The row is done without a send: suppressed, or failed (no channel)."""

    message_id: int
    status: MessageStatus
    note: str


@dataclass(frozen=True)
class Wait:
    """The row goes back to ``pending`` until ``until``: quiet hours, or the next token of the
    sender of ``route`` (then the row moves to that route)."""

    message_id: int
    until: datetime
    note: str
    paced: bool = False
    route: WireRoute | None = None


@dataclass
class DispatchPlan:
    sends: list[PlannedSend] = field(default_factory=list)
    settled: list[Settle] = field(default_factory=list)
    waiting: list[Wait] = field(default_factory=list)
    # The claimed rows as loaded, by id: the caller records the plan on them. Holding them
    # keeps them in the session (its identity map holds clean rows only weakly), so recording
    # costs no SELECT per row.
    rows: dict[int, Message] = field(default_factory=dict)


def plan(
    session: Session,
    ids: Sequence[int],
    now: datetime,
    *,
    buckets: TokenBuckets | None,
    public_base_url: str | None,
) -> DispatchPlan:
    """Run the gate on each claimed row (loaded into ``session``) and plan its sends."""
    # In id order: each recipient's texts are sent in the order they were queued (a lane
    # sends a recipient's group as listed; PostgreSQL returns an IN list in heap order, which
    # updates reshuffle).
    messages = session.scalars(
        select(Message)
        .where(Message.id.in_(ids))
        .order_by(Message.id)
        .execution_options(populate_existing=True)
    ).all()
    volunteer_ids = {m.volunteer_id for m in messages if m.volunteer_id is not None}
    volunteers = {
        v.id: v for v in session.scalars(select(Volunteer).where(Volunteer.id.in_(volunteer_ids)))
    }
    community_ids = {m.community_id for m in messages}
    communities = {
        c.id: c for c in session.scalars(select(Community).where(Community.id.in_(community_ids)))
    }
    channels_of: dict[int, list[Channel]] = defaultdict(list)
    for row in session.scalars(select(Channel).where(Channel.community_id.in_(community_ids))):
        channels_of[row.community_id].append(row)
    senders = {
        channel.id: sender_for(channel, communities[cid].messaging_service_sid)
        for cid, group in channels_of.items()
        for channel in group
    }
    contents = interactive.contents_of(  # only batches with a menu or question on WhatsApp
        session,
        {
            m.community_id
            for m in messages
            if m.interactive is not None and m.to_address.startswith("whatsapp:")
        },
    )
    rules = {
        cid: rules_for(communities[cid], channels_of[cid], contents.get(cid))
        for cid in community_ids
    }
    open_callouts = _open_callouts(session, {m.callout_id for m in messages if m.callout_id})
    asks: dict[int, int] = {}
    if any(m.kind in eligibility.ASK_KINDS for m in messages):
        asks = eligibility.asks_this_week(session, volunteer_ids, now)
    result = DispatchPlan(rows={m.id: m for m in messages})
    for message in messages:
        sender = senders.get(message.channel_id) if message.channel_id else None
        if sender is None:
            result.settled.append(Settle(message.id, MessageStatus.FAILED, NO_CHANNEL))
            continue
        volunteer = volunteers.get(message.volunteer_id) if message.volunteer_id else None
        community = communities[message.community_id]
        recipient = eligibility.recipient_for(volunteer, asks.get(message.volunteer_id or 0, 0))
        outbound = Outbound(
            message.kind,
            sender,
            message.send_before,
            callout_open=message.callout_id is None or message.callout_id in open_callouts,
            interactive=interactive.purpose_of(message.interactive),
        )
        decision = decide(outbound, recipient, rules[community.id], now)
        if isinstance(decision, Suppress):
            result.settled.append(Settle(message.id, MessageStatus.SUPPRESSED, decision.describe()))
        elif isinstance(decision, DeferSend):
            result.waiting.append(Wait(message.id, decision.until, decision.describe()))
        else:
            closed = decision.if_window_closed
            fallback: Attempt | Suppress | None = (
                attempt(message, community, volunteer, closed, public_base_url)
                if isinstance(closed, Send)
                else closed
            )
            first = attempt(message, community, volunteer, decision, public_base_url)
            result.sends.append(PlannedSend(message.id, message.volunteer_id, first, fallback))
    if buckets is not None:
        _pace_other_routes(result, senders, {m.id: m.channel_id for m in messages}, buckets, now)
    return result


def attempt(
    message: Message,
    community: Community,
    volunteer: Volunteer | None,
    decision: Send,
    public_base_url: str | None,
) -> Attempt:
    """The request for ``message`` by the route the gate's ``decision`` names."""
    to_address = message.to_address
    if decision.route is RouteKind.SMS_FALLBACK:
        to_address = volunteer.phone if volunteer else message.to_address.removeprefix("whatsapp:")
    route = WireRoute(
        decision.sender,
        to_address,
        decision.content_sid,
        interactive=decision.route is RouteKind.INTERACTIVE,
    )
    return _attempt(message, community, route, decision.describe(), public_base_url)


def attempt_on_row(
    message: Message, community: Community, sender: Sender, public_base_url: str | None
) -> Attempt:
    """The request the row itself describes (its channel, addresses and template): what an
    interrupted send asked the provider for."""
    approved = set((community.whatsapp_templates or {}).values())
    shown = message.interactive is not None and message.content_sid not in approved
    route = WireRoute(sender, message.to_address, message.content_sid, interactive=shown)
    return _attempt(message, community, route, "sent", public_base_url)


def _attempt(
    message: Message,
    community: Community,
    route: WireRoute,
    note: str,
    public_base_url: str | None,
) -> Attempt:
    callback = f"{public_base_url}/twilio/status?m={message.id}" if public_base_url else None
    variables: dict[str, str] = {}
    if route.content_sid and route.interactive and message.interactive is not None:
        variables = Menu.from_json(message.interactive).variables()
    elif route.content_sid:
        variables = {"1": community.name, "2": message.body}
    return Attempt(route, message.body, note, variables, callback)


def pace_fallback(buckets: TokenBuckets, first: Attempt, fallback: Attempt) -> float | None:
    """Before the 63016 fallback goes: None when it may (same sender as the refused attempt,
    or its sender's token taken), else the seconds until that sender's next token."""
    if fallback.route.sender.bucket == first.route.sender.bucket:
        return None
    grant = buckets.take_from(fallback.route.sender.bucket, 1)
    return None if grant.granted == 1 else grant.retry_after


def paced_note(route: WireRoute, until: datetime, why: str) -> str:
    return (
        f"waiting until {until:%H:%M:%S} UTC for a token of sender {route.sender.bucket.key} "
        f"({why})"
    )[:255]


def _pace_other_routes(
    result: DispatchPlan,
    senders: Mapping[int, Sender],
    channel_of: Mapping[int, int | None],
    buckets: TokenBuckets,
    now: datetime,
) -> None:
    """Take a token for each send whose route leaves from another sender than the row's
    channel (which the dispatcher charged); sends without one wait for it on that route."""
    moved: dict[str, list[PlannedSend]] = defaultdict(list)
    for send in result.sends:
        charged = senders[channel_of[send.message_id] or 0]  # planned sends have a channel
        if send.first.route.sender.bucket != charged.bucket:
            moved[send.first.route.sender.bucket.key].append(send)
    if not moved:
        return
    refused: set[int] = set()
    for group in moved.values():
        grant = buckets.take_from(group[0].first.route.sender.bucket, len(group))
        for send in group[grant.granted :]:
            refused.add(send.message_id)
            until = now + timedelta(seconds=grant.retry_after)
            why = send.first.note.removeprefix("sent ")
            result.waiting.append(
                Wait(
                    send.message_id,
                    until,
                    paced_note(send.first.route, until, why),
                    paced=True,
                    route=send.first.route,
                )
            )
    result.sends = [send for send in result.sends if send.message_id not in refused]


def _open_callouts(session: Session, callout_ids: set[int | None]) -> set[int]:
    if not callout_ids:
        return set()
    return set(
        session.scalars(
            select(CallOut.id).where(
                CallOut.id.in_(callout_ids), CallOut.status == CallOutStatus.OPEN
            )
        )
    )
