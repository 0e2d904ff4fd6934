"""POST /twilio/inbound: signatures, storage, dedupe by MessageSid, opt-out, bad input."""

from __future__ import annotations

import pytest
from flask import Flask, request
from flask.sessions import NullSession
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import conversation
from flows.engine import VolunteerStatus
from service.models import ConversationSession, Direction, Message, MessageStatus, Volunteer
from tests.conftest import (
    COMMUNITY_NUMBER,
    PUBLIC_BASE_URL,
    WHATSAPP_NUMBER,
    SmsHelper,
    count_messages,
)

ANA = "+12025550123"


def volunteer(db: Session, phone: str = ANA) -> Volunteer:
    db.expire_all()
    return db.scalars(select(Volunteer).where(Volunteer.phone == phone)).one()


def test_signed_join_gets_the_onboarding_question(sms: SmsHelper, db: Session) -> None:
    reply = sms.post("/twilio/inbound", sms.form(ANA, "JOIN"))
    assert reply.status == 200
    assert reply.raw.startswith("<?xml")
    assert reply.texts == [
        "Hi! Thanks for texting Riverside Flood Crew about volunteering. What is your name? "
        "Reply with your name, or text STOP to opt out."
    ]
    stored = db.scalars(select(Message).where(Message.direction == Direction.INBOUND)).one()
    assert (stored.body, stored.from_address, stored.status) == ("JOIN", ANA, "processed")


def test_full_onboarding_records_name_and_consent(sms: SmsHelper, db: Session) -> None:
    assert "What is your name?" in sms.send(ANA, "hello there")[0]
    assert sms.send(ANA, "My name is Ana")[0].startswith("Thanks Ana.")
    welcome = sms.send(ANA, "yes")[0]
    assert welcome.startswith("Welcome, Ana!")
    assert "HELP" in welcome and "STOP" in welcome
    ana = volunteer(db)
    assert ana.name == "Ana"
    assert ana.status == VolunteerStatus.ACTIVE
    assert ana.consent_at is not None and ana.consent_source == "sms"
    assert ana.consent_wording and "Reply YES to agree" in ana.consent_wording
    assert db.get(ConversationSession, ana.id) is None  # onboarding finished: idle


@pytest.mark.parametrize(
    "signature",
    ["", "bm90IGEgc2lnbmF0dXJl", "forged"],
    ids=["missing", "wrong", "garbage"],
)
def test_bad_signature_is_403_and_stores_nothing(
    sms: SmsHelper, db: Session, signature: str
) -> None:
    form = sms.form(ANA, "JOIN")
    headers = {} if signature == "" else {"X-Twilio-Signature": signature}
    response = sms.client.post("/twilio/inbound", data=form, headers=headers)
    assert response.status_code == 403
    assert count_messages(db) == 0
    assert db.scalar(select(Volunteer)) is None


def test_signature_over_a_changed_parameter_is_rejected(sms: SmsHelper, db: Session) -> None:
    form = sms.form(ANA, "JOIN")
    signature = sms.sign("/twilio/inbound", form)
    form["Body"] = "STOP"
    assert sms.post("/twilio/inbound", form, signature=signature).status == 403
    assert count_messages(db) == 0


def test_signature_for_another_url_is_rejected(sms: SmsHelper, db: Session) -> None:
    form = sms.form(ANA, "JOIN")
    signature = sms.validator.compute_signature("https://evil.example/twilio/inbound", form)
    assert sms.post("/twilio/inbound", form, signature=signature).status == 403


def test_signature_is_checked_against_public_base_url_behind_a_proxy(sms: SmsHelper) -> None:
    # The test client calls http://localhost/...; Twilio signed https://handsup.example.org/...
    form = sms.form(ANA, "JOIN")
    signature = sms.validator.compute_signature(PUBLIC_BASE_URL + "/twilio/inbound", form)
    assert sms.post("/twilio/inbound", form, signature=signature).status == 200


def test_signature_over_the_url_with_its_port_is_accepted(sms: SmsHelper) -> None:
    # Twilio's signing sometimes includes the default port: the SDK's check tries both URLs
    form = sms.form(ANA, "JOIN")
    url = PUBLIC_BASE_URL + ":443/twilio/inbound"
    signature = sms.validator.compute_signature(url, form)
    assert sms.post("/twilio/inbound", form, signature=signature).status == 200


def test_a_signature_that_is_not_ascii_is_403(sms: SmsHelper, db: Session) -> None:
    form = sms.form(ANA, "JOIN")
    assert sms.post("/twilio/inbound", form, signature="sïgnature=").status == 403
    assert count_messages(db) == 0


def test_webhooks_open_no_cookie_session_and_the_console_does(app: Flask) -> None:
    with app.test_request_context("/twilio/inbound", method="POST"):
        opened = app.session_interface.open_session(app, request)
        assert isinstance(opened, NullSession)  # any write to it would raise
    with app.test_request_context("/login"):
        opened = app.session_interface.open_session(app, request)
        assert opened is not None and not isinstance(opened, NullSession)
        opened["seen"] = True  # the console's session takes writes


def test_get_is_not_allowed(client: FlaskClient) -> None:
    assert client.get("/twilio/inbound").status_code in (403, 405)


def test_same_message_sid_twice_stores_once_and_replies_the_same(
    sms: SmsHelper, db: Session
) -> None:
    sms.send(ANA, "JOIN")
    form = sms.form(ANA, "Ana", sid="SM" + "d" * 32)
    first = sms.post("/twilio/inbound", form)
    second = sms.post("/twilio/inbound", form)
    assert first.status == second.status == 200
    assert first.texts == second.texts and first.texts[0].startswith("Thanks Ana.")
    assert count_messages(db, twilio_sid="SM" + "d" * 32) == 1
    # one reply row for the one processing, and the flow advanced once (to ask_consent)
    inbound = db.scalars(select(Message).where(Message.twilio_sid == "SM" + "d" * 32)).one()
    assert count_messages(db, reply_to_id=inbound.id) == 1
    session_row = db.get(ConversationSession, volunteer(db).id)
    assert session_row is not None and session_row.state == "ask_consent"
    assert count_messages(db, direction=Direction.OUTBOUND, status=MessageStatus.PENDING) == 0


def test_retry_of_a_stored_but_unprocessed_message_processes_it(
    sms: SmsHelper, db: Session, community: object
) -> None:
    # A crash after storing (before the flow ran) leaves a "received" row; the retry finishes it.
    sid = "SM" + "e" * 32
    db.add(
        Message(
            community_id=community.id,  # type: ignore[attr-defined]
            direction=Direction.INBOUND,
            twilio_sid=sid,
            from_address=ANA,
            to_address=COMMUNITY_NUMBER,
            body="JOIN",
            status=MessageStatus.RECEIVED,
        )
    )
    db.commit()
    replies = sms.send(ANA, "JOIN", sid=sid)
    assert "What is your name?" in replies[0]
    assert count_messages(db, twilio_sid=sid) == 1
    assert count_messages(db, twilio_sid=sid, status=MessageStatus.PROCESSED) == 1


def test_a_failed_step_keeps_the_text_and_its_retry_processes_it(
    sms: SmsHelper, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The step runs in the same transaction as the store; when it fails, the text is still kept.
    form = sms.form(ANA, "JOIN")

    def broken(*args: object) -> None:
        raise RuntimeError("a bug in a flow")

    with monkeypatch.context() as patch:
        patch.setattr(conversation, "step", broken)
        with pytest.raises(RuntimeError, match="a bug in a flow"):
            sms.post("/twilio/inbound", form)
    db.expire_all()
    stored = db.scalars(select(Message).where(Message.twilio_sid == form["MessageSid"])).one()
    assert (stored.body, stored.status, stored.volunteer_id) == ("JOIN", "received", None)
    assert count_messages(db, direction=Direction.OUTBOUND) == 0
    assert db.scalars(select(Volunteer)).all() == []  # the step's writes were rolled back

    reply = sms.post("/twilio/inbound", form)  # Twilio's retry of the same MessageSid
    assert reply.status == 200 and "What is your name?" in reply.texts[0]
    assert count_messages(db, twilio_sid=form["MessageSid"], status=MessageStatus.PROCESSED) == 1
    assert count_messages(db, direction=Direction.INBOUND) == 1
    # The next text is stored as answered, with its volunteer, in its answer's transaction.
    assert sms.send(ANA, "Ana")[0].startswith("Thanks Ana.")
    db.expire_all()
    named = db.scalars(select(Message).where(Message.body == "Ana")).one()
    assert (named.status, named.volunteer_id) == (MessageStatus.PROCESSED, volunteer(db).id)
    assert named.processed_at == named.created_at


def test_stop_confirms_once_then_silence_until_start(sms: SmsHelper, db: Session) -> None:
    sms.join(ANA, "Ana")
    assert sms.send(ANA, "STOP") == [
        "You are unsubscribed from Riverside Flood Crew and will get no more texts. "
        "Text START to come back."
    ]
    assert volunteer(db).status == VolunteerStatus.OPTED_OUT
    for text in ("hello?", "JOIN", "STOP", "LANG es", "Ana"):
        assert sms.send(ANA, text) == [], text
    assert "STOP" in sms.send(ANA, "HELP")[0]  # carriers require HELP to answer
    assert volunteer(db).status == VolunteerStatus.OPTED_OUT
    assert sms.send(ANA, "START")[0].startswith("Welcome back")
    assert volunteer(db).status == VolunteerStatus.ACTIVE


@pytest.mark.parametrize(
    "text",
    [
        "stop",
        " Stop. ",
        "UNSUBSCRIBE",
        "cancel",
        "End",
        "quit",
        "optout",
        "revoke",
        "stopall",
        "please stop texting me",
        "Unsubscribe me!",
        "no me escriban mas",
    ],
)
def test_every_opt_out_wording_opts_out(sms: SmsHelper, db: Session, text: str) -> None:
    sms.join(ANA, "Ana")
    replies = sms.send(ANA, text)
    assert len(replies) == 1 and "unsubscribed" in replies[0]
    assert volunteer(db).status == VolunteerStatus.OPTED_OUT


def test_yes_reopts_in_only_while_opted_out(sms: SmsHelper, db: Session) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "STOP")
    assert sms.send(ANA, "yes")[0].startswith("Welcome back")
    assert volunteer(db).status == VolunteerStatus.ACTIVE


def test_stop_from_a_brand_new_number(sms: SmsHelper, db: Session) -> None:
    assert "unsubscribed" in sms.send(ANA, "STOP")[0]
    assert volunteer(db).status == VolunteerStatus.OPTED_OUT
    assert sms.send(ANA, "hi") == []


def test_unknown_text_gets_a_helpful_reply(sms: SmsHelper) -> None:
    sms.join(ANA, "Ana")
    reply = sms.send(ANA, "what is going on")[0]
    assert "HELP" in reply and "STOP" in reply


def test_unknown_destination_gets_empty_twiml_and_stores_nothing(
    sms: SmsHelper, db: Session
) -> None:
    reply = sms.post("/twilio/inbound", sms.form(ANA, "JOIN", to="+12025550188"))
    assert reply.status == 200 and reply.texts == []
    assert "<Response" in reply.raw
    assert count_messages(db) == 0


def test_whatsapp_sender_uses_the_whatsapp_channel(sms: SmsHelper, db: Session) -> None:
    replies = sms.send(f"whatsapp:{ANA}", "JOIN", to=f"whatsapp:{WHATSAPP_NUMBER}")
    assert "What is your name?" in replies[0]
    stored = db.scalars(select(Message).where(Message.direction == Direction.INBOUND)).one()
    assert stored.from_address == f"whatsapp:{ANA}"
    reply_row = db.scalars(select(Message).where(Message.reply_to_id == stored.id)).one()
    assert reply_row.to_address == f"whatsapp:{ANA}"
    assert reply_row.from_address == f"whatsapp:{WHATSAPP_NUMBER}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("MessageSid", ""),
        ("From", ""),
        ("From", "not-a-number"),
        ("From", "+1"),
        ("To", "whatsapp:"),
        ("Body", "x" * 5000),
        ("NumMedia", "many"),
        ("MessageSid", "SM" + "a" * 100),
    ],
)
def test_malformed_requests_get_400_and_store_nothing(
    sms: SmsHelper, db: Session, field: str, value: str
) -> None:
    form = sms.form(ANA, "JOIN")
    form[field] = value
    reply = sms.post("/twilio/inbound", form)
    assert reply.status == 400, reply.raw
    assert count_messages(db) == 0
    assert db.scalar(select(Volunteer)) is None


def test_missing_fields_get_400(sms: SmsHelper, db: Session) -> None:
    form = sms.form(ANA, "JOIN")
    del form["From"], form["Body"]
    assert sms.post("/twilio/inbound", form).status == 400
    assert count_messages(db) == 0


def test_mixed_channels_are_rejected(sms: SmsHelper, db: Session) -> None:
    form = sms.form(f"whatsapp:{ANA}", "JOIN", to=COMMUNITY_NUMBER)
    assert sms.post("/twilio/inbound", form).status == 400


def test_media_without_text_gets_a_sensible_reply(sms: SmsHelper, db: Session) -> None:
    from tests.service.test_twilio_payloads import media_url

    sms.join(ANA, "Ana")
    sid = "MM" + "5" * 32
    form = sms.form(
        ANA, "", sid=sid, NumMedia="1", MediaUrl0=media_url(sid), MediaContentType0="image/gif"
    )
    reply = sms.post("/twilio/inbound", form)
    assert reply.status == 200
    assert reply.texts and "got your photo" in reply.texts[0]
    stored = db.scalars(
        select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id.desc())
    ).first()
    assert stored is not None and stored.num_media == 1


def test_long_whatsapp_body_within_limits_is_answered(sms: SmsHelper) -> None:
    sms.join(ANA, "Ana")
    assert sms.send(ANA, "word " * 300)  # 1,500 characters: stored and answered


def test_without_twilio_credentials_every_webhook_is_refused(
    app: object, sms: SmsHelper, db: Session
) -> None:
    from dataclasses import replace

    res = app.extensions["handsup"]  # type: ignore[attr-defined]
    res.settings = replace(res.settings, twilio_account_sid=None, twilio_auth_token=None)
    assert sms.post("/twilio/inbound", sms.form(ANA, "JOIN")).status == 403
    assert count_messages(db) == 0


def test_concurrent_retries_of_one_message_store_and_process_it_once(
    app: object, sms: SmsHelper, db: Session
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sms.send(ANA, "JOIN")
    form = sms.form(ANA, "Ana", sid="SM" + "c" * 32)

    def post(_: int) -> tuple[int, list[str]]:
        helper = SmsHelper(app.test_client())  # type: ignore[attr-defined]
        reply = helper.post("/twilio/inbound", form)
        return reply.status, reply.texts

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(post, range(8)))
    assert {status for status, _ in results} == {200}
    assert len({tuple(texts) for _, texts in results}) == 1
    assert results[0][1][0].startswith("Thanks Ana.")
    inbound = db.scalars(select(Message).where(Message.twilio_sid == "SM" + "c" * 32)).one()
    assert count_messages(db, reply_to_id=inbound.id) == 1
