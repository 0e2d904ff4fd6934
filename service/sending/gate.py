"""The send gate's rules: may this outbound text go now, by which route, or why not.

A pure function of plain values (the message, its recipient, the community's rules, the
clock), so every outbound path is judged by the same table and the rules are tested without a
database. The checks run in this order:

1. recipient opted out or erased        -> suppressed
2. call-out already filled              -> suppressed
3. recipient on a break, text is an ask -> suppressed
4. quiet hours, text is not urgent      -> deferred to the end of quiet hours
5. weekly ask limit reached             -> suppressed
6. channel rules (WhatsApp 24 h window) -> free-form, template, SMS fallback or suppressed

Imports the stdlib, ``flows.engine`` and ``service.models`` enums and
``service.sending.quiet_hours``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from flows.engine import VolunteerStatus
from service.models.community import ChannelKind
from service.models.messages import ASK_KINDS, QUIET_HOURS_KINDS
from service.sending.quiet_hours import quiet_until

WHATSAPP_WINDOW = timedelta(hours=24)
ASK_WINDOW = timedelta(days=7)  # the weekly ask limit counts asks in this window
# Kinds a WhatsApp template can be configured for ("default" covers the others).
TEMPLATE_KINDS = ("default", "direct", "notice", "callout", "reminder", "ask", "broadcast")
# Kinds held back while a volunteer is on a break (PAUSE): asks, call-outs and bulk texts.
HELD_WHILE_PAUSED = ASK_KINDS | {"broadcast"}


class Route(StrEnum):
    FREEFORM = "freeform"  # the message's own channel and text
    TEMPLATE = "template"  # WhatsApp outside the window: an approved template
    SMS_FALLBACK = "sms"  # WhatsApp outside the window, no template: plain SMS instead


@dataclass(frozen=True)
class Send:
    route: Route = Route.FREEFORM
    content_sid: str | None = None

    def describe(self) -> str:
        if self.route is Route.TEMPLATE:
            return f"sent as WhatsApp template {self.content_sid} (outside the 24 h window)"
        if self.route is Route.SMS_FALLBACK:
            return "sent by SMS instead of WhatsApp (outside the 24 h window, no template)"
        return "sent"


@dataclass(frozen=True)
class Suppress:
    reason: str

    def describe(self) -> str:
        return f"suppressed: {self.reason}"


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str

    def describe(self) -> str:
        return f"deferred until {self.until:%Y-%m-%d %H:%M} UTC ({self.reason})"


Decision = Send | Suppress | Defer


@dataclass(frozen=True)
class Outbound:
    """The message being judged."""

    kind: str
    channel: ChannelKind
    send_before: datetime | None = None  # a non-urgent text may not wait past this
    callout_open: bool = True  # False once the call-out it asks for has filled


@dataclass(frozen=True)
class Recipient:
    """The volunteer it goes to; ``status`` None means the volunteer was erased."""

    status: VolunteerStatus | None
    paused_until: datetime | None = None
    urgent_ok: bool = False
    whatsapp_inbound_at: datetime | None = None
    sms_consent: bool = False
    asks_this_week: int = 0  # asks already sent in the last 7 days


@dataclass(frozen=True)
class Rules:
    """The community's sending rules (a ``QuietHours`` for ``quiet_until``)."""

    timezone: str
    quiet_start_minute: int
    quiet_end_minute: int
    ask_limit_per_week: int
    whatsapp_templates: Mapping[str, Any] = field(default_factory=dict)
    has_sms_channel: bool = False

    def template_for(self, kind: str) -> str | None:
        sid = self.whatsapp_templates.get(kind) or self.whatsapp_templates.get("default")
        return str(sid) if sid else None


def decide(message: Outbound, recipient: Recipient, rules: Rules, now: datetime) -> Decision:
    """The gate's decision for ``message`` to ``recipient`` at ``now``."""
    if recipient.status is None:
        return Suppress("recipient erased")
    if recipient.status == VolunteerStatus.OPTED_OUT:
        return Suppress("recipient opted out")
    if not message.callout_open:
        return Suppress("call-out already filled")
    if message.kind in HELD_WHILE_PAUSED and on_break(recipient, now):
        return Suppress("volunteer is on a break")
    urgent = message.kind == "callout" and recipient.urgent_ok
    if message.kind in QUIET_HOURS_KINDS or (message.kind == "callout" and not urgent):
        end = quiet_until(rules, now)
        if end is not None and (message.send_before is None or end < message.send_before):
            return Defer(end, "quiet hours")
    if message.kind in ASK_KINDS and recipient.asks_this_week >= rules.ask_limit_per_week:
        return Suppress(f"ask limit reached ({rules.ask_limit_per_week} a week)")
    if message.channel == ChannelKind.WHATSAPP:
        return whatsapp_route(message.kind, recipient, rules, now)
    return Send()


def whatsapp_route(kind: str, recipient: Recipient, rules: Rules, now: datetime) -> Decision:
    """Inside the 24-hour window free text; outside it a template, else SMS, else nothing."""
    opened = recipient.whatsapp_inbound_at
    if opened is not None and now - opened < WHATSAPP_WINDOW:
        return Send()
    template = rules.template_for(kind)
    if template is not None:
        return Send(Route.TEMPLATE, template)
    if recipient.sms_consent and rules.has_sms_channel:
        return Send(Route.SMS_FALLBACK)
    return Suppress("outside WhatsApp window")


def on_break(recipient: Recipient, now: datetime) -> bool:
    return recipient.status == VolunteerStatus.PAUSED and (
        recipient.paused_until is None or recipient.paused_until > now
    )
