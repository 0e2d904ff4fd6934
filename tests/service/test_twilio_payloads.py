"""Everything Twilio really sends to /twilio/inbound, signed like Twilio: each kind is stored
exactly once and answered as described, and a request Twilio could not have sent (a re-cut
signed request, another account, a made-up parameter) is refused and stores nothing."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from service.models import Community, Direction, Message, MessageStatus, Volunteer, VolunteerStatus
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    COMMUNITY_NUMBER,
    PUBLIC_BASE_URL,
    WHATSAPP_NUMBER,
    SmsHelper,
)
from tests.service.test_conversation_rules import add_shift, statuses

INBOUND = "/twilio/inbound"
ANA = "+12025550123"
WA_ANA = f"whatsapp:{ANA}"
WA_TO = f"whatsapp:{WHATSAPP_NUMBER}"


def message_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


def media_url(sid: str, media: str | None = None) -> str:
    media = media or "ME" + secrets.token_hex(16)
    return f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/{media}"


def sms_full(sender: str, body: str, sid: str | None = None) -> dict[str, str]:
    """Every parameter Twilio documents for an incoming SMS."""
    sid = sid or message_sid()
    return {
        "ToCountry": "US",
        "ToState": "DC",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "WASHINGTON",
        "FromZip": "20001",
        "SmsSid": sid,
        "FromState": "DC",
        "SmsStatus": "received",
        "FromCity": "WASHINGTON",
        "Body": body,
        "FromCountry": "US",
        "To": COMMUNITY_NUMBER,
        "MessagingServiceSid": "MG" + "1" * 32,
        "ToZip": "20002",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def whatsapp(body: str, sid: str | None = None, **extra: str) -> dict[str, str]:
    sid = sid or message_sid()
    return {
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ProfileName": "Ana",
        "MessageType": "text",
        "SmsSid": sid,
        "WaId": ANA.removeprefix("+"),
        "SmsStatus": "received",
        "Body": body,
        "To": WA_TO,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": WA_ANA,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def inbound_rows(db: Session, sid: str) -> list[Message]:
    db.expire_all()
    rows = list(db.scalars(select(Message).where(Message.twilio_sid == sid)))
    db.commit()
    return rows


def posted(sms: SmsHelper, form: dict[str, str]) -> list[str]:
    reply = sms.post(INBOUND, form)
    assert reply.status == 200, reply.raw
    return reply.texts


def join_whatsapp(sms: SmsHelper) -> None:
    for text in ("JOIN", "Ana", "YES"):
        posted(sms, whatsapp(text))


# --- every kind of inbound message -----------------------------------------------------------


def test_sms_with_every_parameter_twilio_sends(sms: SmsHelper, db: Session) -> None:
    form = sms_full(ANA, "JOIN")
    assert "What is your name?" in posted(sms, form)[0]
    assert posted(sms, form)  # Twilio's retry: answered again from the stored replies
    (row,) = inbound_rows(db, form["MessageSid"])
    assert row.body == "JOIN" and row.status == MessageStatus.PROCESSED


def test_mms_without_a_body_is_stored_with_its_media_and_acknowledged(
    sms: SmsHelper, db: Session
) -> None:
    sms.join(ANA, "Ana")
    sid = message_sid("MM")
    media = "ME" + "a" * 32
    form = sms_full(ANA, "", sid=sid) | {
        "NumMedia": "1",
        "MediaUrl0": media_url(sid, media),
        "MediaContentType0": "image/jpeg",
    }
    replies = posted(sms, form)
    assert replies == [
        "Thanks, our team got your photo or file and will look at it. "
        "Text HELP for help, or STOP to opt out."
    ]
    assert posted(sms, form) == replies
    (row,) = inbound_rows(db, sid)
    assert row.num_media == 1
    assert row.media == [{"sid": media, "content_type": "image/jpeg"}]
    assert row.attention == "media"


def test_whatsapp_media_with_a_caption(sms: SmsHelper, db: Session) -> None:
    join_whatsapp(sms)
    sid = message_sid("MM")
    form = whatsapp("road blocked at the bridge", sid=sid, MessageType="image") | {
        "NumMedia": "2",
        "MediaUrl0": media_url(sid),
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": media_url(sid),
        "MediaContentType1": "video/mp4",
    }
    (reply,) = posted(sms, form)
    assert "got your photo" in reply and "read text" not in reply
    (row,) = inbound_rows(db, sid)
    assert row.body == "road blocked at the bridge"
    assert [m["content_type"] for m in row.media or []] == ["image/jpeg", "video/mp4"]
    assert row.attention == "media"


def test_whatsapp_location(sms: SmsHelper, db: Session) -> None:
    join_whatsapp(sms)
    form = whatsapp(
        "",
        MessageType="location",
        Latitude="38.8895",
        Longitude="-77.0353",
        Address="2 15th St NW, Washington, DC",
        Label="Washington Monument",
    )
    (reply,) = posted(sms, form)
    assert "got your location" in reply
    (row,) = inbound_rows(db, form["MessageSid"])
    assert row.location == {
        "latitude": 38.8895,
        "longitude": -77.0353,
        "address": "2 15th St NW, Washington, DC",
        "label": "Washington Monument",
    }
    assert row.attention == "location"


def test_a_quick_reply_button_is_routed_by_its_payload(
    sms: SmsHelper, db: Session, community: Community
) -> None:
    add_shift(db, community, "Sandbags")
    join_whatsapp(sms)
    form = whatsapp("Sign me up", MessageType="button", ButtonText="Sign me up")
    form["ButtonPayload"] = "SHIFTS"
    (reply,) = posted(sms, form)
    assert "1) Sandbags" in reply
    # The display text says YES; the payload says NO: the payload wins.
    form = whatsapp("Yes", MessageType="button", ButtonText="Yes", ButtonPayload="HELP")
    assert "Coordinator:" in posted(sms, form)[0]
    (row,) = inbound_rows(db, form["MessageSid"])
    assert row.payload == "HELP" and row.body == "Yes"


def test_a_list_reply_is_routed_by_its_id(
    sms: SmsHelper, db: Session, community: Community
) -> None:
    add_shift(db, community, "Sandbags")
    add_shift(db, community, "Kitchen", hours=72)
    join_whatsapp(sms)
    posted(sms, whatsapp("SHIFTS"))
    form = whatsapp(
        "Kitchen", MessageType="interactive", ListId="2", ListTitle="Kitchen"
    )  # the display text is a shift title: only the id says which line
    posted(sms, form)
    assert set(statuses(db, ANA)) == {"Kitchen"}
    (row,) = inbound_rows(db, form["MessageSid"])
    assert row.payload == "2"


@pytest.mark.parametrize("sender", ["12345", "VERIFY", "My Bank"])
def test_short_code_and_alphanumeric_senders_are_kept_unmatched_and_not_answered(
    sms: SmsHelper, db: Session, sender: str
) -> None:
    form = sms_full(sender, "Your code is 123456")
    for _ in range(2):  # a retry stores nothing more
        reply = sms.post(INBOUND, form)
        assert reply.status == 200 and reply.texts == [] and "<Response" in reply.raw
    (row,) = inbound_rows(db, form["MessageSid"])
    assert row.from_address == sender and row.attention == "unmatched"
    assert row.volunteer_id is None and row.status == MessageStatus.PROCESSED
    assert db.scalar(select(func.count()).select_from(Volunteer)) == 0
    assert db.scalar(select(func.count()).where(Message.reply_to_id == row.id)) == 0


def test_a_from_that_phonenumbers_calls_invalid_is_still_a_volunteer(
    sms: SmsHelper, db: Session
) -> None:
    drama = "+447700900123"  # Ofcom's drama range: possible, but "invalid" to phonenumbers
    form = sms_full(drama, "JOIN")
    assert "What is your name?" in posted(sms, form)[0]
    (row,) = inbound_rows(db, form["MessageSid"])
    volunteer = db.scalars(select(Volunteer).where(Volunteer.phone == drama)).one()
    assert row.volunteer_id == volunteer.id


# --- requests Twilio could not have sent ----------------------------------------------------


def _signature(form: dict[str, str]) -> str:
    return str(RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + INBOUND, form))


def test_a_field_shifted_replay_is_refused_and_cannot_resubscribe(
    sms: SmsHelper, db: Session
) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "STOP")
    captured = sms.form(ANA, "START")
    signature = _signature(captured)
    sms.post(INBOUND, captured)  # the volunteer opted back in with this text...
    sms.send(ANA, "STOP")  # ...and later out again
    shifted = dict(captured)
    del shifted["NumMedia"]
    shifted["MessageSid"] = captured["MessageSid"] + "NumMedia0"
    assert RequestValidator(AUTH_TOKEN).validate(PUBLIC_BASE_URL + INBOUND, shifted, signature)
    reply = sms.post(INBOUND, shifted, signature=signature)
    assert reply.status == 400
    assert inbound_rows(db, shifted["MessageSid"]) == []
    db.expire_all()
    assert db.scalars(select(Volunteer)).one().status == VolunteerStatus.OPTED_OUT


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"AccountSid": "AC" + "1" * 32}, "another account"),
        ({"MessageSid": "SM" + "g" * 32}, "not hex"),
        ({"MessageSid": "XX" + "a" * 32}, "not a message SID"),
        ({"MessageSid": "SM" + "a" * 31}, "too short"),
        ({"SmsSid": "SM" + "b" * 32}, "SmsSid differs"),
        ({"MessagingServiceSid": "MGxyz"}, "bad service SID"),
        ({"body": "STOP"}, "a name Twilio does not send"),
        ({"BodyX": "STOP"}, "a re-cut name"),
        ({"MediaUrl0": "https://api.twilio.com/x"}, "media beyond NumMedia"),
        ({"Latitude": "91", "Longitude": "0"}, "latitude out of range"),
        ({"Latitude": "1"}, "one coordinate"),
    ],
)
def test_shapes_twilio_never_sends_are_refused(
    sms: SmsHelper, db: Session, change: dict[str, str], why: str
) -> None:
    form = sms.form(ANA, "JOIN") | change
    assert sms.post(INBOUND, form).status == 400, why
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Message)) == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/2010-04-01/Accounts/{a}/Messages/{s}/Media/ME" + "a" * 32,
        "http://api.twilio.com/2010-04-01/Accounts/{a}/Messages/{s}/Media/ME" + "a" * 32,
        "https://api.twilio.com/2010-04-01/Accounts/{a}/Messages/MM"
        + "0" * 32
        + "/Media/ME"
        + "a" * 32,
        "https://api.twilio.com/2010-04-01/Accounts/AC"
        + "9" * 32
        + "/Messages/{s}/Media/ME"
        + "a" * 32,
    ],
)
def test_media_urls_must_be_twilios_for_this_message(sms: SmsHelper, db: Session, url: str) -> None:
    sid = message_sid("MM")
    form = sms.form(ANA, "", sid=sid) | {
        "NumMedia": "1",
        "MediaUrl0": url.format(a=ACCOUNT_SID, s=sid),
        "MediaContentType0": "image/png",
    }
    assert sms.post(INBOUND, form).status == 400
    assert inbound_rows(db, sid) == []


def test_a_future_parameter_twilio_may_add_is_accepted(sms: SmsHelper, db: Session) -> None:
    form = sms.form(ANA, "JOIN") | {"ChannelPrefix": "sms", "SomethingNew": "x"}
    assert "What is your name?" in posted(sms, form)[0]


def test_a_text_older_than_the_opt_out_never_resubscribes(sms: SmsHelper, db: Session) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "STOP")
    volunteer = db.scalars(select(Volunteer)).one()
    assert volunteer.opted_out_at is not None
    # A START that arrived before the STOP but whose step failed: stored unprocessed, and
    # processed only now, by Twilio's retry of the same MessageSid.
    form = sms.form(ANA, "START")
    db.add(
        Message(
            community_id=volunteer.community_id,
            direction=Direction.INBOUND,
            twilio_sid=form["MessageSid"],
            from_address=ANA,
            to_address=COMMUNITY_NUMBER,
            body="START",
            status=MessageStatus.RECEIVED,
            created_at=volunteer.opted_out_at - timedelta(seconds=5),
        )
    )
    db.commit()
    assert sms.send(ANA, "START", sid=form["MessageSid"]) == []
    db.expire_all()
    assert db.scalars(select(Volunteer)).one().status == VolunteerStatus.OPTED_OUT
    assert sms.send(ANA, "START")[0].startswith("Welcome back")  # a new START still works


def test_a_tapped_list_item_names_its_shift_so_a_changed_menu_cannot_mislead_it(
    sms: SmsHelper, db: Session, community: Community
) -> None:
    kitchen = add_shift(db, community, "Kitchen", hours=72)
    join_whatsapp(sms)
    posted(sms, whatsapp("SHIFTS"))  # the menu: 1) Kitchen
    add_shift(db, community, "Sandbags", hours=24)  # now line 1 would be Sandbags
    tap = whatsapp("Kitchen", MessageType="interactive", ListId=f"shift:{kitchen.id}")
    tap["ListTitle"] = "Kitchen"
    assert posted(sms, tap)[0].startswith("You are on Kitchen")
    assert set(statuses(db, ANA)) == {"Kitchen"}


def test_a_typed_item_id_is_only_text(sms: SmsHelper, db: Session, community: Community) -> None:
    kitchen = add_shift(db, community, "Kitchen")
    join_whatsapp(sms)
    (reply,) = posted(sms, whatsapp(f"shift:{kitchen.id}"))  # typed, not tapped
    assert reply.startswith("A person on our team will read your message")
    assert statuses(db, ANA) == {}


def test_a_tap_on_a_shift_no_longer_open_says_so(
    sms: SmsHelper, db: Session, community: Community
) -> None:
    join_whatsapp(sms)
    tap = whatsapp("Old shift", MessageType="interactive", ListId="shift:999999")
    assert posted(sms, tap)[0].startswith("Sorry, that shift is no longer open")
    assert statuses(db, ANA) == {}
