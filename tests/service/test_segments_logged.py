"""Texts are logged with the segments Twilio bills for them: an emoji with a skin tone, a flag
or a Devanagari vowel sign that falls on a part boundary moves whole to the next part (issue 14,
item 8). The counts follow tests/flows/twilio_segments.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import Community, Direction, Message, MessageKind, Volunteer
from service.sending.queue import queue_message
from tests.conftest import SmsHelper

ANA = "+12025550123"
THUMBS_UP_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# (volunteer's language, what they text): 65 + 4 + 65 or 66 + 2 + 66 UTF-16 units, a cluster
# starting just before the 67-unit boundary of a multi-part UCS-2 message.
STRADDLING = {
    "en": (
        "Running late, I will be at the school gym in ten minutes with Ana",
        THUMBS_UP_MEDIUM,
        " She is bringing two shovels and the big cooler of water for all!",
    ),
    "es": (
        "Llego tarde, estaré en el gimnasio de la escuela en diez minutos ",
        THUMBS_UP_MEDIUM,
        " Ana trae dos palas y la nevera con agua fría para los vecinos!!!",
    ),
    "hi": (
        "मैं दस मिनट में स्कूल पहुँच रही हूँ, अनीता भी साथ आएगी और हम पानी ",
        "की",  # a consonant and its vowel sign: one cluster
        " बोतलें, फावड़े और रेत की बोरियाँ भी साथ लाएँगे, ठीक है? धन्यवाद!!",
    ),
}


@pytest.mark.parametrize("language", sorted(STRADDLING))
def test_a_text_with_a_cluster_on_the_boundary_is_logged_as_three_segments(
    sms: SmsHelper, db: Session, language: str
) -> None:
    before, cluster, after = STRADDLING[language]
    assert _units(before) < 67 < _units(before + cluster)  # the cluster straddles unit 67
    assert _units(before + cluster + after) == 134  # two full parts' worth of units
    sms.join(ANA, "Ana")
    if language != "en":
        sms.send(ANA, f"LANG {language}")
    text = before + cluster + after
    sms.send(ANA, text)

    db.expire_all()
    stored = db.scalars(
        select(Message).where(Message.direction == Direction.INBOUND, Message.body == text)
    ).one()
    # 134 units fit two 67-unit parts only if the cluster were cut in two; Twilio moves it whole
    assert (stored.encoding, stored.segments) == ("UCS-2", 3)


def test_an_outbound_text_with_a_flag_on_the_boundary_is_queued_as_three_segments(
    sms: SmsHelper, db: Session, community: Community
) -> None:
    sms.join(ANA, "Ana")
    db.expire_all()
    ana = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    body = "a" * 65 + "\U0001f1fa\U0001f1f8" + "b" * 65  # 🇺🇸 at units 66-69
    message = queue_message(
        db, volunteer=ana, body=body, kind=MessageKind.NOTICE, idempotency_key="flag"
    )
    assert (message.encoding, message.segments) == ("UCS-2", 3)
