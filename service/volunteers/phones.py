"""Phone numbers and Twilio addresses: parse to E.164 with ``phonenumbers``, never crash."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from service.models.community import ChannelKind

WHATSAPP_PREFIX = "whatsapp:"


class InvalidPhoneNumber(ValueError):
    """A number that cannot be parsed or is not a valid number for its region."""


def to_e164(raw: str, default_region: str | None = None) -> str:
    """Normalise ``raw`` to E.164, using ``default_region`` for national numbers."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("the phone number is empty")
    if len(text) > 40:
        raise InvalidPhoneNumber("the phone number is too long")
    try:
        number = phonenumbers.parse(text, (default_region or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{text!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Address:
    kind: ChannelKind
    e164: str


def parse_twilio_address(raw: str) -> Address:
    """``+15551234567`` is SMS; ``whatsapp:+15551234567`` is WhatsApp."""
    text = (raw or "").strip()
    kind = ChannelKind.SMS
    if text.lower().startswith(WHATSAPP_PREFIX):
        kind = ChannelKind.WHATSAPP
        text = text[len(WHATSAPP_PREFIX) :]
    if not text.startswith("+"):
        raise InvalidPhoneNumber(f"{raw!r} is not an E.164 address")
    return Address(kind=kind, e164=to_e164(text))


class SenderKind(StrEnum):
    """What Twilio put in an inbound text's ``From``: a phone number, or a sender no one can
    text back (a short code like ``12345``, an alphanumeric sender ID like ``VERIFY``)."""

    PHONE = "phone"
    SHORT_CODE = "short_code"
    ALPHANUMERIC = "alphanumeric"


@dataclass(frozen=True)
class Sender:
    kind: ChannelKind
    sender_kind: SenderKind
    address: str  # E.164 for a phone, else the sender as Twilio gave it


SHORT_CODE = re.compile(r"[0-9]{3,8}")
# GSM alphanumeric sender IDs: up to 11 letters, digits, spaces and a few signs, one letter at least
ALPHANUMERIC = re.compile(r"(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9 .&_+-]{1,11}")


def parse_twilio_sender(raw: str) -> Sender:
    """The ``From`` of an inbound webhook. Twilio has already validated it, so any *possible*
    E.164 number is a phone (new ranges, Ofcom's drama range and some MVNOs are possible but
    not "valid" to ``phonenumbers``); SMS from a short code or an alphanumeric sender ID is
    kept as such. WhatsApp senders are always ``whatsapp:+E164``."""
    text = (raw or "").strip()
    kind = ChannelKind.SMS
    if text.lower().startswith(WHATSAPP_PREFIX):
        kind = ChannelKind.WHATSAPP
        text = text[len(WHATSAPP_PREFIX) :]
    if text.startswith("+") and len(text) <= 20:
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_possible_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            return Sender(kind, SenderKind.PHONE, e164)
    elif kind == ChannelKind.SMS and SHORT_CODE.fullmatch(text):
        return Sender(kind, SenderKind.SHORT_CODE, text)
    elif kind == ChannelKind.SMS and ALPHANUMERIC.fullmatch(text):
        return Sender(kind, SenderKind.ALPHANUMERIC, text)
    raise InvalidPhoneNumber(f"{raw!r} is not a sender Twilio sends")


def mask(e164: str) -> str:
    """``+15551234567`` → ``+1•••••••4567`` for logs and read-only views."""
    if len(e164) <= 6:
        return "•" * len(e164)
    return e164[:2] + "•" * (len(e164) - 6) + e164[-4:]
