"""Phone numbers and Twilio addresses: parse to E.164 with ``phonenumbers``, never crash."""

from __future__ import annotations

from dataclasses import dataclass

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


def mask(e164: str) -> str:
    """``+15551234567`` → ``+1••••••4567`` for logs and read-only views."""
    if len(e164) <= 6:
        return "•" * len(e164)
    return e164[:2] + "•" * (len(e164) - 6) + e164[-4:]
