"""The send gate: may this outbound text go now, by which route, from which sender, paced on
which bucket, and what to do if WhatsApp refuses free text (63016) -- or why not.

A pure function of plain values (the message and the sender it was queued on, its recipient,
the community's rules, the clock), so every outbound path is judged by the same table and the
rules are tested without a database. The recipient rules come from
``service.sending.eligibility`` (the candidate queries use the same definitions). The checks
run in this order (a FAREWELL, the worker's answer to the text that erased its recipient, is
sent as free text before any of them):

1. recipient opted out or erased                    -> suppressed
2. call-out already filled                          -> suppressed
3. a number the carrier does not know or a landline
   (30005/30006)                                    -> suppressed
4. recipient on a break (or never joined), an ask
   or a broadcast; an ask to an unreachable number  -> suppressed
5. quiet hours, text is not urgent                  -> deferred to the end of quiet hours
6. weekly ask limit reached                         -> suppressed
7. a broadcast from a sender that carrier filtering
   (30007) paused                                   -> deferred to the end of the pause
8. channel rules (WhatsApp 24 h window)             -> free text or, for a menu or a YES / NO
                                                       question with a content template, an
                                                       interactive message (either with its
                                                       63016 fallback); outside the window a
                                                       template, SMS fallback or suppressed

Imports the stdlib, ``service.models``, ``service.sending.pacing`` and
``service.sending.eligibility``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from service.models import Channel, ChannelKind, Community, MessageKind
from service.sending import eligibility
from service.sending.eligibility import Reach, Recipient
from service.sending.pacing import Bucket, bucket_for

# Kinds a WhatsApp template can be configured for ("default" covers the others).
TEMPLATE_KINDS: tuple[str, ...] = (
    "default",
    *(
        kind.value
        for kind in (
            MessageKind.DIRECT,
            MessageKind.NOTICE,
            MessageKind.CALLOUT,
            MessageKind.REMINDER,
            MessageKind.ASK,
            MessageKind.BROADCAST,
        )
    ),
)


class RouteKind(StrEnum):
    FREEFORM = "freeform"  # the message's own channel and text
    # WhatsApp inside the window: the text as a list-picker or quick-reply content template
    INTERACTIVE = "interactive"
    TEMPLATE = "template"  # WhatsApp outside the window: an approved template
    SMS_FALLBACK = "sms"  # WhatsApp outside the window, no template: plain SMS instead


@dataclass(frozen=True)
class Sender:
    """A channel a community sends from: its row, ``From`` as Twilio writes it, the Messaging
    Service that replaces ``From`` (SMS only), and the bucket its sends are paced on."""

    channel_id: int
    kind: ChannelKind
    address: str
    bucket: Bucket
    messaging_service_sid: str | None = None
    # Carrier filtering (30007) kept hitting this sender: its broadcasts wait until then.
    bulk_paused_until: datetime | None = None


# How long a sender's broadcasts wait once carrier filtering paused them.
BULK_PAUSE = timedelta(hours=24)


def sender_for(channel: Channel, messaging_service_sid: str | None = None) -> Sender:
    """The sender of ``channel`` (``messaging_service_sid``: the community's, if any)."""
    service_sid = messaging_service_sid if channel.kind == ChannelKind.SMS else None
    return Sender(
        channel_id=channel.id,
        kind=channel.kind,
        address=channel.twilio_address,
        bucket=bucket_for(
            channel.kind,
            channel.address,
            rate_override=channel.rate_per_second,
            messaging_service_sid=service_sid,
        ),
        messaging_service_sid=service_sid or None,
        bulk_paused_until=(
            channel.bulk_paused_at + BULK_PAUSE if channel.bulk_paused_at is not None else None
        ),
    )


@dataclass(frozen=True)
class Suppress:
    reason: str

    def describe(self) -> str:
        return f"suppressed: {self.reason}"


@dataclass(frozen=True)
class Send:
    """Go now by ``route`` from ``sender`` (paced on ``sender.bucket``). WhatsApp free text
    names what to do if the provider answers that the window has closed (63016)."""

    route: RouteKind
    sender: Sender
    content_sid: str | None = None
    if_window_closed: Send | Suppress | None = None

    def describe(self) -> str:
        if self.route is RouteKind.TEMPLATE:
            return f"sent as WhatsApp template {self.content_sid} (outside the 24 h window)"
        if self.route is RouteKind.INTERACTIVE:
            return f"sent as interactive WhatsApp message {self.content_sid}"
        if self.route is RouteKind.SMS_FALLBACK:
            return "sent by SMS instead of WhatsApp (outside the 24 h window, no template)"
        return "sent"


@dataclass(frozen=True)
class DeferSend:
    until: datetime
    reason: str

    def describe(self) -> str:
        return f"deferred until {self.until:%Y-%m-%d %H:%M} UTC ({self.reason})"


Decision = Send | Suppress | DeferSend


@dataclass(frozen=True)
class Outbound:
    """The message being judged, and the sender it was queued on."""

    kind: MessageKind
    sender: Sender
    send_before: datetime | None = None  # a non-urgent text may not wait past this
    callout_open: bool = True  # False once the call-out it asks for has filled
    # The text as something to tap (``flows.menus.Menu``): its language and ``purpose``
    # (``list:3``, ``yes_no``), which name the content template that shows it.
    interactive: tuple[str, str] | None = None

    @property
    def channel(self) -> ChannelKind:
        return self.sender.kind


@dataclass(frozen=True)
class Rules:
    """The community's sending rules (a ``QuietHours`` for ``quiet_until``) and its SMS
    sender, which WhatsApp texts fall back to."""

    timezone: str
    quiet_start_minute: int
    quiet_end_minute: int
    ask_limit_per_week: int
    whatsapp_templates: Mapping[str, Any] = field(default_factory=dict)
    sms_sender: Sender | None = None
    # The content templates synced for interactive messages: (language, purpose) -> SID.
    whatsapp_contents: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def template_for(self, kind: MessageKind) -> str | None:
        return eligibility.template_for(self.whatsapp_templates, kind)

    def content_for(self, interactive: tuple[str, str] | None) -> str | None:
        """The content template that shows ``(language, purpose)`` (None: send the text)."""
        return self.whatsapp_contents.get(interactive) if interactive is not None else None


def rules_for(
    community: Community,
    channels: Sequence[Channel],
    whatsapp_contents: Mapping[tuple[str, str], str] | None = None,
) -> Rules:
    sms = next((c for c in channels if c.kind == ChannelKind.SMS), None)
    return Rules(
        timezone=community.timezone,
        quiet_start_minute=community.quiet_start_minute,
        quiet_end_minute=community.quiet_end_minute,
        ask_limit_per_week=community.ask_limit_per_week,
        whatsapp_templates=dict(community.whatsapp_templates or {}),
        sms_sender=sender_for(sms, community.messaging_service_sid) if sms else None,
        whatsapp_contents=dict(whatsapp_contents or {}),
    )


def decide(message: Outbound, recipient: Recipient, rules: Rules, now: datetime) -> Decision:
    """The gate's decision for ``message`` to ``recipient`` at ``now``."""
    if message.kind == MessageKind.FAREWELL:
        # The answer to the text that erased the recipient: the TwiML answer would have
        # reached them, so this one does, whatever an erased volunteer's row says (opted
        # out, no WhatsApp window: the text it answers has just arrived).
        return Send(RouteKind.FREEFORM, message.sender)
    gone = eligibility.gone(recipient)
    if gone is not None:
        return Suppress(gone)
    if not message.callout_open:
        return Suppress("call-out already filled")
    held = eligibility.verdict(message.kind, recipient, rules, now, message.send_before)
    if isinstance(held, eligibility.Ineligible):
        return Suppress(held.reason)
    if isinstance(held, eligibility.Later):
        return DeferSend(held.until, held.reason)
    paused = message.sender.bulk_paused_until
    if message.kind == MessageKind.BROADCAST and paused is not None and now < paused:
        return DeferSend(paused, "broadcasts from this sender paused: carrier filtering (30007)")
    if message.channel == ChannelKind.WHATSAPP:
        return whatsapp_route(message, recipient, rules, now)
    return Send(RouteKind.FREEFORM, message.sender)


def whatsapp_route(
    message: Outbound, recipient: Recipient, rules: Rules, now: datetime
) -> Send | Suppress:
    """Inside the 24-hour window free text, or the interactive form of a menu or question
    when the community has its content template, naming what to do if WhatsApp says the
    window has closed after all; outside it a template, else SMS, else nothing."""
    if eligibility.whatsapp_window_open(recipient.whatsapp_inbound_at, now):
        content = rules.content_for(message.interactive)
        return Send(
            RouteKind.INTERACTIVE if content else RouteKind.FREEFORM,
            message.sender,
            content,
            if_window_closed=_window_closed(message, recipient, rules),
        )
    return _window_closed(message, recipient, rules)


def _window_closed(message: Outbound, recipient: Recipient, rules: Rules) -> Send | Suppress:
    template = rules.template_for(message.kind)
    reach = eligibility.closed_window_reach(
        recipient, template is not None, rules.sms_sender is not None
    )
    if reach is Reach.TEMPLATE:
        return Send(RouteKind.TEMPLATE, message.sender, template)
    if reach is Reach.SMS and rules.sms_sender is not None:
        return Send(RouteKind.SMS_FALLBACK, rules.sms_sender)
    return Suppress("outside WhatsApp window")
