"""Who may be sent what, now: the one definition of an ask and the weekly ask limit, a break,
quiet hours, opted-out/erased/unreachable recipients and WhatsApp reachability, written twice
side by side: as plain-value predicates for the send gate, and as SQL conditions over
``Volunteer`` for the candidate queries (call-outs, gap asks, standing-pledge checks,
broadcasts) and the roster jobs (reminders). A property test holds the two to each other.

**An ask** is an outbound message of an ask kind (``ASK_KINDS``: call-out asks, donation gap
asks, standing-pledge checks) handed to the provider (``sent_at``) within the last
``ASK_WINDOW``. It is counted from the message log rather than from ``CallOutAsk`` /
``DonationAsk`` rows because the log holds every ask kind (a standing-pledge check has no ask
row), it counts what reached the volunteer (an ask that was suppressed, or is still waiting out
quiet hours, asked nobody anything), and the gate judging an ask at send time does not count
that very ask (its ``sent_at`` is still empty), so the query that picked a volunteer and the
gate that sends to them see the same number.

**A break** (``PAUSE``) ends at ``paused_until`` for every path at once: ``paused_until <= now``
means available again, whether or not the volunteer has texted since (the inbound path only
tidies the status). A break without an end lasts until ``RESUME``.

**A dead number** (the carrier said it does not exist or is a landline: 30005/30006) gets
nothing at all, from the first such error until the volunteer texts from it.

**An unreachable number** (flagged after repeated undelivered texts or an invalid-number
error) gets no asks: it could not answer, and the ask would take a place in a call-out wave
and a turn in the rotation. It still gets what it signed up for (reminders, notices) and
broadcasts, whose delivery receipts are how a number shows it works again.

Imports the stdlib, SQLAlchemy, ``flows.engine``, ``service.models`` and
``service.sending.quiet_hours``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service.models import Channel, ChannelKind, Message, MessageKind, Volunteer
from service.sending.quiet_hours import QuietHours, quiet_until

# Asks count against the weekly ask limit, are held by a break and skip unreachable numbers.
ASK_KINDS = frozenset({MessageKind.CALLOUT, MessageKind.ASK})
ASK_WINDOW = timedelta(days=7)  # the weekly ask limit counts asks sent in this window
# Kinds held back while a volunteer is on a break (PAUSE): asks, call-outs and bulk texts.
HELD_WHILE_PAUSED = ASK_KINDS | {MessageKind.BROADCAST}
# Kinds that wait out the recipient community's quiet hours (replies do not, nor do call-outs
# to volunteers who accept urgent texts at night).
QUIET_HOURS_KINDS = frozenset(
    {
        MessageKind.NOTICE,
        MessageKind.BROADCAST,
        MessageKind.REMINDER,
        MessageKind.ASK,
        MessageKind.DIRECT,
    }
)
WHATSAPP_WINDOW = timedelta(hours=24)
CHANNEL_ORDER = (ChannelKind.SMS, ChannelKind.WHATSAPP, ChannelKind.SIMULATOR)


class CommunityRules(QuietHours, Protocol):
    """What eligibility depends on of a community (a ``Community`` row or the gate's rules)."""

    @property
    def ask_limit_per_week(self) -> int: ...
    @property
    def whatsapp_templates(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Recipient:
    """The volunteer a text goes to, as the gate sees them; ``status`` None means erased."""

    status: VolunteerStatus | None
    paused_until: datetime | None = None
    urgent_ok: bool = False
    whatsapp_inbound_at: datetime | None = None
    sms_consent: bool = False
    asks_this_week: int = 0  # asks sent in the last ASK_WINDOW (see the module docstring)
    unreachable: bool = False
    # The carrier does not know the number or it is a landline (30005/30006): nothing goes.
    dead_number: bool = False


def recipient_for(volunteer: Volunteer | None, asks_this_week: int = 0) -> Recipient:
    if volunteer is None:
        return Recipient(status=None)
    return Recipient(
        status=volunteer.status,
        paused_until=volunteer.paused_until,
        urgent_ok=volunteer.urgent_ok,
        whatsapp_inbound_at=volunteer.whatsapp_inbound_at,
        sms_consent=volunteer.sms_consent_at is not None,
        asks_this_week=asks_this_week,
        unreachable=volunteer.unreachable_at is not None,
        dead_number=volunteer.unreachable_code is not None,
    )


# ----- the rules, one recipient at a time ---------------------------------------------------


def available(status: VolunteerStatus | None, paused_until: datetime | None, now: datetime) -> bool:
    """Joined and not on a break: active, or paused with a break that ended by ``now``."""
    if status == VolunteerStatus.ACTIVE:
        return True
    return status == VolunteerStatus.PAUSED and paused_until is not None and paused_until <= now


def on_break(status: VolunteerStatus | None, paused_until: datetime | None, now: datetime) -> bool:
    return status == VolunteerStatus.PAUSED and not available(status, paused_until, now)


def waits_out_quiet_hours(kind: MessageKind, urgent_ok: bool) -> bool:
    return kind in QUIET_HOURS_KINDS or (kind == MessageKind.CALLOUT and not urgent_ok)


def quiet_wait(
    rules: QuietHours,
    kind: MessageKind,
    now: datetime,
    *,
    urgent_ok: bool = False,
    send_before: datetime | None = None,
) -> datetime | None:
    """When a text of ``kind`` must wait for quiet hours: the UTC moment they end. None when
    it may go now: outside quiet hours, an urgent call-out to someone who accepts them, or a
    text that would then arrive after ``send_before`` (the start of what it is about)."""
    if not waits_out_quiet_hours(kind, urgent_ok):
        return None
    end = quiet_until(rules, now)
    if end is None or (send_before is not None and end >= send_before):
        return None
    return end


def gone(recipient: Recipient) -> str | None:
    """Why nothing of any kind may reach ``recipient`` (erased, opted out), or None."""
    if recipient.status is None:
        return "recipient erased"
    if recipient.status == VolunteerStatus.OPTED_OUT:
        return "recipient opted out"
    return None


@dataclass(frozen=True)
class Ineligible:
    reason: str


@dataclass(frozen=True)
class Later:
    until: datetime
    reason: str = "quiet hours"


def verdict(
    kind: MessageKind,
    recipient: Recipient,
    rules: CommunityRules,
    now: datetime,
    send_before: datetime | None = None,
) -> Ineligible | Later | None:
    """What the recipient's state says of a text of ``kind`` now (after ``gone``), in the
    gate's order: a break (or never joined), an unreachable number, quiet hours, the weekly
    ask limit. None: it may go."""
    if recipient.dead_number:
        return Ineligible("number unknown to the carrier or a landline")
    if kind in HELD_WHILE_PAUSED and not available(recipient.status, recipient.paused_until, now):
        if on_break(recipient.status, recipient.paused_until, now):
            return Ineligible("volunteer is on a break")
        return Ineligible("volunteer has not joined")
    if kind in ASK_KINDS and recipient.unreachable:
        return Ineligible("number unreachable")
    until = quiet_wait(rules, kind, now, urgent_ok=recipient.urgent_ok, send_before=send_before)
    if until is not None:
        return Later(until)
    if kind in ASK_KINDS and recipient.asks_this_week >= rules.ask_limit_per_week:
        return Ineligible(f"ask limit reached ({rules.ask_limit_per_week} a week)")
    return None


class Reach(StrEnum):
    """How a WhatsApp text reaches its recipient."""

    WINDOW = "window"  # free text, inside the 24-hour window
    TEMPLATE = "template"  # outside it: an approved template
    SMS = "sms"  # outside it, no template: plain SMS (SMS consent and an SMS sender)
    NONE = "none"


def whatsapp_window_open(opened: datetime | None, now: datetime) -> bool:
    return opened is not None and now - opened < WHATSAPP_WINDOW


def template_for(templates: Mapping[str, Any], kind: MessageKind) -> str | None:
    """The WhatsApp template configured for ``kind``, else the community's default one."""
    sid = templates.get(str(kind)) or templates.get("default")
    return str(sid) if sid else None


def closed_window_reach(recipient: Recipient, has_template: bool, has_sms_sender: bool) -> Reach:
    """Outside the window: a template, else SMS (with consent and a sender), else nothing."""
    if has_template:
        return Reach.TEMPLATE
    if recipient.sms_consent and has_sms_sender:
        return Reach.SMS
    return Reach.NONE


def whatsapp_reach(
    recipient: Recipient, has_template: bool, has_sms_sender: bool, now: datetime
) -> Reach:
    if whatsapp_window_open(recipient.whatsapp_inbound_at, now):
        return Reach.WINDOW
    return closed_window_reach(recipient, has_template, has_sms_sender)


def pick_channel(channels: Sequence[Channel], preferred_id: int | None) -> Channel | None:
    """The volunteer's preferred channel, else SMS, WhatsApp, simulator in that order."""
    for channel in channels:
        if channel.id == preferred_id:
            return channel
    for kind in CHANNEL_ORDER:
        for channel in channels:
            if channel.kind == kind:
                return channel
    return None


# ----- the same rules as SQL over Volunteer -------------------------------------------------


def available_clause(now: datetime) -> ColumnElement[bool]:
    """``available`` as SQL."""
    return or_(
        Volunteer.status == VolunteerStatus.ACTIVE,
        and_(
            Volunteer.status == VolunteerStatus.PAUSED,
            Volunteer.paused_until.is_not(None),
            Volunteer.paused_until <= now,
        ),
    )


def _asks_where(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Message.kind.in_(ASK_KINDS), Message.sent_at > now - ASK_WINDOW)


def asks_sent(volunteer_id: Any, now: datetime) -> Any:
    """The asks sent to ``volunteer_id`` (a column) in the window, as a scalar subquery."""
    return (
        select(func.count())
        .select_from(Message)
        .where(Message.volunteer_id == volunteer_id, *_asks_where(now))
        .scalar_subquery()
    )


def asks_this_week(session: Session, volunteer_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """The asks sent to each volunteer in the window (absent: none), one query."""
    ids = set(volunteer_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Message.volunteer_id, func.count())
        .where(Message.volunteer_id.in_(ids), *_asks_where(now))
        .group_by(Message.volunteer_id)
    ).all()
    return {vid: int(n) for vid, n in rows if vid is not None}


def quiet_clause(kind: MessageKind, rules: QuietHours, now: datetime) -> ColumnElement[bool]:
    """``quiet_wait`` is None (the text may go now), as SQL: at night only volunteers who
    accept urgent call-outs, for call-outs; nobody, for the other kinds that wait."""
    if quiet_until(rules, now) is None:
        return true()
    if kind in QUIET_HOURS_KINDS:
        return false()
    if kind == MessageKind.CALLOUT:
        return Volunteer.urgent_ok.is_(True)
    return true()


def reachable_clause(
    kind: MessageKind, templates: Mapping[str, Any], channels: Sequence[Channel], now: datetime
) -> ColumnElement[bool]:
    """``whatsapp_reach`` is not NONE for volunteers whose texts leave on WhatsApp (their
    preferred channel, or the community's first one by ``pick_channel``), as SQL."""
    whatsapp_ids = [c.id for c in channels if c.kind == ChannelKind.WHATSAPP]
    if not whatsapp_ids or template_for(templates, kind) is not None:
        return true()
    preferred = Volunteer.preferred_channel_id
    on_whatsapp: ColumnElement[bool] = and_(preferred.is_not(None), preferred.in_(whatsapp_ids))
    default = pick_channel(channels, None)
    if default is not None and default.kind == ChannelKind.WHATSAPP:
        on_whatsapp = or_(
            on_whatsapp,
            preferred.is_(None),
            and_(preferred.is_not(None), preferred.not_in([c.id for c in channels])),
        )
    has_sms_sender = any(c.kind == ChannelKind.SMS for c in channels)
    return or_(
        not_(on_whatsapp),
        Volunteer.whatsapp_inbound_at > now - WHATSAPP_WINDOW,
        Volunteer.sms_consent_at.is_not(None) if has_sms_sender else false(),
    )


def recipients_clause(
    kind: MessageKind, community: CommunityRules, channels: Sequence[Channel], now: datetime
) -> ColumnElement[bool]:
    """The volunteers (of any community: the caller filters) the gate would let a text of
    ``kind``, one of ``HELD_WHILE_PAUSED``, through to now, as one SQL condition. Asks also
    leave out those quiet hours would defer; a broadcast is deferred as a whole instead."""
    if kind not in HELD_WHILE_PAUSED:
        raise ValueError(f"no candidate query for {kind!r} texts")
    parts = [
        available_clause(now),
        reachable_clause(kind, community.whatsapp_templates or {}, channels, now),
        Volunteer.unreachable_code.is_(None),
    ]
    if kind in ASK_KINDS:
        parts += [
            Volunteer.unreachable_at.is_(None),
            quiet_clause(kind, community, now),
            asks_sent(Volunteer.id, now) < community.ask_limit_per_week,
        ]
    return and_(*parts)
