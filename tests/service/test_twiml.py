"""The webhook's TwiML answer is exactly what the Twilio library's ``MessagingResponse``
writes, for any replies (it is built as a string: issue 18)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twilio.twiml.messaging_response import MessagingResponse

from service.web.twilio_webhooks import twiml

# What a reply can hold: any character XML 1.0 allows (catalog texts, names, numbers, emoji).
XML_TEXT = st.text(
    st.characters(
        blacklist_categories=["Cs"],
        blacklist_characters=[chr(c) for c in range(32) if chr(c) not in "\t\n\r"],
    )
)


def library(replies: list[str]) -> str:
    response = MessagingResponse()
    for text in replies:
        response.message(text)
    return str(response)


@given(st.lists(XML_TEXT, max_size=3))
def test_twiml_matches_the_twilio_library_byte_for_byte(replies: list[str]) -> None:
    answer = twiml(replies)
    assert answer.get_data(as_text=True) == library(replies)
    assert answer.mimetype == "text/xml"


def test_markup_in_a_reply_is_escaped() -> None:
    body = twiml(["<b>Tom & Jerry</b>", ""]).get_data(as_text=True)
    assert "<Message>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</Message><Message /></Response>" in body
    assert body == library(["<b>Tom & Jerry</b>", ""])
