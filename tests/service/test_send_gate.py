"""The send gate's rules as a table: plain values in, one decision out (no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from flows.engine import VolunteerStatus
from service.models import ChannelKind
from service.sending.eligibility import Recipient
from service.sending.gate import (
    DeferSend,
    Outbound,
    RouteKind,
    Rules,
    Send,
    Sender,
    Suppress,
    decide,
)
from service.sending.pacing import bucket_for

# 15:00 UTC is 10:00 in New York (outside quiet hours); 03:00 UTC is 22:00 (inside them)
DAY = datetime(2030, 3, 1, 15, 0, tzinfo=UTC)
NIGHT = datetime(2030, 3, 2, 3, 0, tzinfo=UTC)
MORNING = datetime(2030, 3, 2, 13, 0, tzinfo=UTC)  # 08:00 New York, quiet hours end
SMS = Sender(1, ChannelKind.SMS, "+12025550100", bucket_for(ChannelKind.SMS, "+12025550100"))
WHATSAPP = Sender(
    2,
    ChannelKind.WHATSAPP,
    "whatsapp:+12025550199",
    bucket_for(ChannelKind.WHATSAPP, "+12025550199"),
)
RULES = Rules(
    timezone="America/New_York",
    quiet_start_minute=21 * 60,
    quiet_end_minute=8 * 60,
    ask_limit_per_week=3,
    sms_sender=SMS,
)
ACTIVE = Recipient(status=VolunteerStatus.ACTIVE)
TEMPLATE = "HX" + "1" * 32
SENT = Send(RouteKind.FREEFORM, SMS)  # free text from the SMS number it was queued on


def sms(kind: str, **extra: object) -> Outbound:
    return Outbound(kind, SMS, **extra)  # type: ignore[arg-type]


def whatsapp(kind: str = "reminder") -> Outbound:
    return Outbound(kind, WHATSAPP)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["notice", "reminder", "callout", "ask", "broadcast", "direct"])
def test_opted_out_and_erased_recipients_get_nothing_of_any_kind(kind: str) -> None:
    opted_out = Recipient(status=VolunteerStatus.OPTED_OUT, urgent_ok=True)
    assert decide(sms(kind), opted_out, RULES, DAY) == Suppress("recipient opted out")
    assert decide(sms(kind), Recipient(status=None), RULES, DAY) == Suppress("recipient erased")


def test_the_answer_to_the_text_that_erased_its_recipient_goes_as_free_text_at_any_hour() -> None:
    """A FAREWELL (under surge, a worker's answer to FORGET's YES): the TwiML answer would
    have reached them, so it does too, whatever the erased row now says."""
    erased = Recipient(status=None, whatsapp_inbound_at=None)
    assert decide(sms("farewell"), erased, RULES, NIGHT) == SENT
    assert decide(whatsapp("farewell"), erased, RULES, NIGHT) == Send(RouteKind.FREEFORM, WHATSAPP)


def test_opt_out_wins_over_every_later_rule() -> None:
    opted_out = Recipient(status=VolunteerStatus.OPTED_OUT, asks_this_week=9)
    assert decide(sms("callout", callout_open=False), opted_out, RULES, NIGHT) == Suppress(
        "recipient opted out"
    )


def test_a_filled_call_out_is_not_asked_any_more() -> None:
    assert decide(sms("callout", callout_open=False), ACTIVE, RULES, DAY) == Suppress(
        "call-out already filled"
    )


@pytest.mark.parametrize(
    ("kind", "held"),
    [("callout", True), ("ask", True), ("broadcast", True), ("reminder", False), ("notice", False)],
)
def test_a_break_holds_asks_and_bulk_but_not_reminders_of_what_they_signed_up_for(
    kind: str, held: bool
) -> None:
    paused = Recipient(status=VolunteerStatus.PAUSED, paused_until=DAY + timedelta(days=3))
    expected = Suppress("volunteer is on a break") if held else SENT
    assert decide(sms(kind), paused, RULES, DAY) == expected
    # a break that has ended holds nothing
    over = replace(paused, paused_until=DAY - timedelta(minutes=1))
    assert decide(sms(kind), over, RULES, DAY) == SENT


def test_pause_without_an_end_holds_until_resume() -> None:
    paused = Recipient(status=VolunteerStatus.PAUSED, paused_until=None)
    assert decide(sms("ask"), paused, RULES, DAY + timedelta(days=300)) == Suppress(
        "volunteer is on a break"
    )


@pytest.mark.parametrize("kind", ["notice", "reminder", "ask", "broadcast", "direct"])
def test_quiet_hours_defer_non_urgent_texts_to_their_end(kind: str) -> None:
    decision = decide(sms(kind), ACTIVE, RULES, NIGHT)
    assert decision == DeferSend(MORNING, "quiet hours")
    assert decision.describe() == "deferred until 2030-03-02 13:00 UTC (quiet hours)"
    assert decide(sms(kind), ACTIVE, RULES, DAY) == SENT


def test_call_outs_reach_only_volunteers_who_accept_urgent_texts_at_night() -> None:
    assert decide(sms("callout"), replace(ACTIVE, urgent_ok=True), RULES, NIGHT) == SENT
    assert decide(sms("callout"), ACTIVE, RULES, NIGHT) == DeferSend(MORNING, "quiet hours")


def test_a_text_that_would_arrive_after_its_shift_starts_goes_now() -> None:
    starts = NIGHT + timedelta(hours=5)  # 03:00 local, before quiet hours end
    assert decide(sms("reminder", send_before=starts), ACTIVE, RULES, NIGHT) == SENT
    later = MORNING + timedelta(hours=1)
    assert decide(sms("reminder", send_before=later), ACTIVE, RULES, NIGHT) == DeferSend(
        MORNING, "quiet hours"
    )


def test_equal_quiet_start_and_end_mean_no_quiet_hours() -> None:
    never = replace(RULES, quiet_start_minute=0, quiet_end_minute=0)
    assert decide(sms("broadcast"), ACTIVE, never, NIGHT) == SENT


@pytest.mark.parametrize("kind", ["callout", "ask"])
def test_the_weekly_ask_limit_drops_surplus_asks_only(kind: str) -> None:
    at_limit = replace(ACTIVE, asks_this_week=3)
    assert decide(sms(kind), at_limit, RULES, DAY) == Suppress("ask limit reached (3 a week)")
    assert decide(sms(kind), replace(ACTIVE, asks_this_week=2), RULES, DAY) == SENT
    assert decide(sms("reminder"), at_limit, RULES, DAY) == SENT
    assert decide(sms("broadcast"), at_limit, RULES, DAY) == SENT


def test_whatsapp_inside_the_window_is_free_text() -> None:
    recent = replace(ACTIVE, whatsapp_inbound_at=DAY - timedelta(hours=23, minutes=59))
    assert decide(whatsapp(), recent, RULES, DAY) == Send(
        RouteKind.FREEFORM, WHATSAPP, if_window_closed=Suppress("outside WhatsApp window")
    )


def test_whatsapp_outside_the_window_uses_the_kinds_template_then_the_default() -> None:
    stale = replace(ACTIVE, whatsapp_inbound_at=DAY - timedelta(hours=24))
    other = "HX" + "2" * 32
    rules = replace(RULES, whatsapp_templates={"reminder": TEMPLATE, "default": other})
    assert decide(whatsapp("reminder"), stale, rules, DAY) == Send(
        RouteKind.TEMPLATE, WHATSAPP, TEMPLATE
    )
    assert decide(whatsapp("broadcast"), stale, rules, DAY) == Send(
        RouteKind.TEMPLATE, WHATSAPP, other
    )
    assert "template" in decide(whatsapp("reminder"), stale, rules, DAY).describe()


def test_whatsapp_without_a_template_falls_back_to_sms_only_with_sms_consent() -> None:
    never_texted = replace(ACTIVE, sms_consent=True)
    assert decide(whatsapp(), never_texted, RULES, DAY) == Send(RouteKind.SMS_FALLBACK, SMS)
    assert decide(whatsapp(), ACTIVE, RULES, DAY) == Suppress("outside WhatsApp window")
    no_sms_number = replace(RULES, sms_sender=None)
    assert decide(whatsapp(), never_texted, no_sms_number, DAY) == Suppress(
        "outside WhatsApp window"
    )


def test_quiet_hours_come_before_the_whatsapp_route() -> None:
    stale = replace(ACTIVE, sms_consent=True)
    assert decide(whatsapp("notice"), stale, RULES, NIGHT) == DeferSend(MORNING, "quiet hours")


def test_whatsapp_free_text_names_its_63016_fallback_template_then_sms_then_nothing() -> None:
    recent = replace(ACTIVE, whatsapp_inbound_at=DAY - timedelta(hours=1))
    with_template = replace(RULES, whatsapp_templates={"default": TEMPLATE})
    assert decide(whatsapp(), recent, with_template, DAY) == Send(
        RouteKind.FREEFORM, WHATSAPP, if_window_closed=Send(RouteKind.TEMPLATE, WHATSAPP, TEMPLATE)
    )
    consented = replace(recent, sms_consent=True)
    assert decide(whatsapp(), consented, RULES, DAY) == Send(
        RouteKind.FREEFORM, WHATSAPP, if_window_closed=Send(RouteKind.SMS_FALLBACK, SMS)
    )
    # SMS free text has no such fallback
    assert decide(sms("notice"), consented, RULES, DAY) == SENT


def test_each_route_names_the_bucket_it_is_paced_on() -> None:
    consented = replace(ACTIVE, sms_consent=True)
    fallback = decide(whatsapp(), consented, RULES, DAY)
    assert isinstance(fallback, Send)
    assert (fallback.sender.bucket.key, fallback.sender.bucket.rate.per_second) == (
        "sms:+12025550100",
        1.0,  # a US long code
    )
    recent = replace(consented, whatsapp_inbound_at=DAY - timedelta(hours=1))
    free = decide(whatsapp(), recent, RULES, DAY)
    assert isinstance(free, Send) and isinstance(free.if_window_closed, Send)
    assert (free.sender.bucket.key, free.sender.bucket.rate.per_second) == (
        "whatsapp:+12025550199",
        10.0,
    )
    assert free.if_window_closed.sender.bucket == SMS.bucket


def test_an_unreachable_number_gets_no_asks_but_everything_else() -> None:
    unreachable = replace(ACTIVE, unreachable=True)
    for kind in ("callout", "ask"):
        assert decide(sms(kind), unreachable, RULES, DAY) == Suppress("number unreachable")
    for kind in ("notice", "reminder", "broadcast", "direct"):
        assert decide(sms(kind), unreachable, RULES, DAY) == SENT


def test_asks_and_broadcasts_go_only_to_volunteers_who_joined() -> None:
    new = Recipient(status=VolunteerStatus.NEW)
    for kind in ("callout", "ask", "broadcast"):
        assert decide(sms(kind), new, RULES, DAY) == Suppress("volunteer has not joined")
    assert decide(sms("notice"), new, RULES, DAY) == SENT


def test_a_break_ends_at_its_end_to_the_second() -> None:
    paused = Recipient(status=VolunteerStatus.PAUSED, paused_until=DAY)
    before = DAY - timedelta(seconds=1)
    assert decide(sms("ask"), paused, RULES, before) == Suppress("volunteer is on a break")
    assert decide(sms("ask"), paused, RULES, DAY) == SENT
