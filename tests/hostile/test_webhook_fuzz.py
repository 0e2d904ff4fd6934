"""Hostile input to the Twilio webhooks: fuzzed forms (hypothesis) and signature attacks.

Whatever arrives, the answer is never a 500 and nothing half-stored is left behind: every
inbound row is either fully processed (with its replies) or was never written.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from service.models import Direction, Message, MessageStatus, Volunteer
from tests.conftest import AUTH_TOKEN, COMMUNITY_NUMBER, PUBLIC_BASE_URL, WHATSAPP_NUMBER, SmsHelper
from tests.service.test_twilio_payloads import media_url

INBOUND = "/twilio/inbound"
ANA = "+12025550123"

# Any code point Flask can carry in a form: every plane, but no lone surrogates.
any_text = st.text(st.characters(codec="utf-8"), max_size=300)
numbers = st.one_of(
    st.sampled_from(
        [
            ANA,
            "+447700900123",
            f"whatsapp:{ANA}",
            "whatsapp:",
            "+1",
            "+999999999999999999",
            "12025550123",
            "+1 (202) 555-0123",
            "",
            "+١٢٣٤٥٦٧٨٩٠",
            "tel:+12025550123",
        ]
    ),
    any_text,
)
fields: dict[str, st.SearchStrategy[str]] = {
    "MessageSid": st.one_of(
        st.from_regex(r"\ASM[0-9a-f]{32}\Z"), any_text, st.just("SM" + "a" * 100)
    ),
    "AccountSid": st.one_of(st.just("AC" + "0" * 32), any_text),
    "From": numbers,
    "To": st.one_of(st.sampled_from([COMMUNITY_NUMBER, f"whatsapp:{WHATSAPP_NUMBER}"]), numbers),
    "Body": st.one_of(
        any_text,
        st.sampled_from(["JOIN", "STOP", "YES", "SHIFTS", "1", "HELP", "LANG es", "DROP 9"]),
        st.text(max_size=5000).map(lambda t: t * 2),
    ),
    "NumMedia": st.one_of(st.sampled_from(["0", "1", "10", "-1", "x", ""]), any_text),
    "MediaUrl0": any_text,
    "MediaContentType0": any_text,
    "ProfileName": any_text,
    "SmsStatus": any_text,
    "Unexpected": any_text,  # a field Twilio never sends
}
forms = st.fixed_dictionaries({}, optional=fields)


def _sign(form: dict[str, str], token: str = AUTH_TOKEN, url: str = INBOUND) -> str:
    return str(RequestValidator(token).compute_signature(PUBLIC_BASE_URL + url, form))


def _no_half_records(db: Session) -> None:
    db.expire_all()
    half = db.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.direction == Direction.INBOUND, Message.status != MessageStatus.PROCESSED)
    )
    assert half == 0, "an inbound row was stored but never processed"


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(form=forms)
def test_fuzzed_signed_webhooks_never_500(
    sms: SmsHelper, db: Session, form: dict[str, str]
) -> None:
    response = sms.client.post(INBOUND, data=form, headers={"X-Twilio-Signature": _sign(form)})
    assert response.status_code in (200, 400, 413), (response.status_code, form)
    if response.status_code == 200:
        assert response.get_data(as_text=True).startswith("<?xml")
    _no_half_records(db)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(form=forms, header=st.one_of(st.none(), any_text))
def test_fuzzed_unsigned_webhooks_are_403_and_store_nothing(
    client: FlaskClient, db: Session, form: dict[str, str], header: str | None
) -> None:
    # A header cannot carry line breaks (the test client refuses them, as servers do).
    clean = None if header is None else "".join(c for c in header if c not in "\r\n")
    headers = {} if clean is None else {"X-Twilio-Signature": clean}
    response = client.post(INBOUND, data=form, headers=headers)
    assert response.status_code in (403, 413)
    assert db.scalar(select(func.count()).select_from(Message)) == 0


def test_a_huge_body_is_413_and_stores_nothing(sms: SmsHelper, db: Session) -> None:
    form = sms.form(ANA, "x" * 200_000)
    response = sms.client.post(INBOUND, data=form, headers={"X-Twilio-Signature": _sign(form)})
    assert response.status_code == 413
    assert db.scalar(select(func.count()).select_from(Message)) == 0


def test_a_missing_message_sid_is_400_and_stores_nothing(sms: SmsHelper, db: Session) -> None:
    form = sms.form(ANA, "JOIN")
    del form["MessageSid"]
    assert sms.post(INBOUND, form).status == 400
    assert db.scalar(select(func.count()).select_from(Message)) == 0


def test_media_messages_are_stored_with_their_count(sms: SmsHelper, db: Session) -> None:
    sid = "MM" + "6" * 32
    form = sms.form(
        ANA, "", sid=sid, NumMedia="2", MediaUrl0=media_url(sid), MediaUrl1=media_url(sid)
    )
    form |= {"MediaContentType0": "image/jpeg", "MediaContentType1": "image/png"}
    assert sms.post(INBOUND, form).status == 200
    stored = db.scalars(select(Message).where(Message.direction == Direction.INBOUND)).one()
    assert stored.num_media == 2 and stored.status == MessageStatus.PROCESSED


# --- signature attacks: every one is refused and leaves nothing behind --------------------


def _nothing_stored(db: Session) -> None:
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Message)) == 0
    assert db.scalar(select(func.count()).select_from(Volunteer)) == 0


def _attack(
    client: FlaskClient, method: str, url: str, form: dict[str, str], sig: str | None
) -> TestResponse:
    headers = {} if sig is None else {"X-Twilio-Signature": sig}
    if method == "GET":
        return client.get(url, query_string=form, headers=headers)
    return client.post(url, data=form, headers=headers)


@pytest.mark.parametrize(
    "attack",
    [
        "changed parameter",
        "added parameter",
        "another url",
        "another token",
        "missing header",
        "empty header",
        "get instead of post",
        "status url signature on inbound",
    ],
)
def test_signature_attacks_are_refused(sms: SmsHelper, db: Session, attack: str) -> None:
    form = sms.form(ANA, "JOIN")
    signature = _sign(form)
    method, url, sent = "POST", INBOUND, dict(form)
    sig: str | None = signature
    if attack == "changed parameter":
        sent["Body"] = "STOP"
    elif attack == "added parameter":
        sent["ProfileName"] = "Mallory"
    elif attack == "another url":
        sig = str(
            RequestValidator(AUTH_TOKEN).compute_signature("https://evil.example" + INBOUND, form)
        )
    elif attack == "another token":
        sig = _sign(form, token="another-token-" + "y" * 18)
    elif attack == "missing header":
        sig = None
    elif attack == "empty header":
        sig = ""
    elif attack == "get instead of post":
        method = "GET"
    elif attack == "status url signature on inbound":
        sig = _sign(form, url="/twilio/status")
    response = _attack(sms.client, method, url, sent, sig)
    assert response.status_code in (403, 405), (attack, response.status_code)
    if method == "GET":
        assert response.status_code == 405
    _nothing_stored(db)


def test_a_replayed_request_is_answered_once_and_stored_once(sms: SmsHelper, db: Session) -> None:
    form = sms.form(ANA, "JOIN")
    first = sms.post(INBOUND, form)
    replay = sms.post(INBOUND, form)  # a captured request sent again, signature and all
    assert first.status == replay.status == 200
    assert first.texts == replay.texts
    db.expire_all()
    inbound = db.scalar(
        select(func.count()).select_from(Message).where(Message.direction == Direction.INBOUND)
    )
    assert inbound == 1


@pytest.mark.parametrize("field", ["Body", "MessageSid", "ProfileName"])
def test_a_nul_character_is_400_when_signed_and_403_when_not(
    sms: SmsHelper, db: Session, field: str
) -> None:
    # PostgreSQL text cannot hold NUL: refused up front instead of failing in an INSERT.
    form = sms.form(ANA, "JOIN")
    form[field] = form.get(field, "") + "\x00x"
    assert sms.post(INBOUND, form).status == 400
    assert sms.post(INBOUND, form, signature="forged").status == 403
    status_form = {"MessageSid": "SM\x00" + "a" * 30, "MessageStatus": "delivered"}
    assert sms.post("/twilio/status", status_form).status == 400
    _nothing_stored(db)
