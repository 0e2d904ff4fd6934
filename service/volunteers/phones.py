"""Phone numbers and Twilio addresses: parse to E.164 with ``phonenumbers``, never crash."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from service.models.community import ChannelKind

WHATSAPP_PREFIX = "whatsapp:"


class InvalidPhoneNumber(ValueError):
    """A number that cannot be parsed or is not a valid number for its region. ``reason``
    says why in words a coordinator can act on (never the library's own text); the message
    also quotes the number."""

    def __init__(self, reason: str, raw: str = "") -> None:
        super().__init__(f"{raw[:40]!r}: {reason}" if raw else reason)
        self.reason = reason


# A trailing label people add to a number: "(mobile)", "[cell]", "(work)".
LABEL = re.compile(r"\s*[(\[]\s*[^\W\d_][^\W\d_ .'-]*(?:[ .'-]+[^\W\d_]+)*\s*[)\]]\s*$")
EXTENSION = re.compile(r"(?:;\s*ext\s*=|\bext(?:ension)?\b\.?|\bx|\#)\s*\d+\s*$", re.IGNORECASE)
LETTERS = re.compile(r"[^\W\d_]")
# Where a number that is not valid in the community's country most often comes from; the
# error suggests the first of these in which it is valid.
LIKELY_REGIONS = (
    "US", "CA", "MX", "GB", "IE", "AU", "NZ", "IN", "PK", "BD", "PH", "NG", "KE", "ZA",
    "ES", "FR", "DE", "IT", "PT", "NL", "PL", "UA", "BR", "AR", "CO", "VE", "SV", "GT",
    "HN", "DO", "CU", "HT", "JM", "CN", "JP", "KR", "VN", "SG", "MY", "ID", "TR", "EG",
)  # fmt: skip


GENERIC_ADVICE = "write it with + and the country code, like +61 412 345 678"
MOBILE_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


def to_e164(raw: str, default_region: str | None = None) -> str:
    """``parse_typed`` with the number quoted in the error."""
    try:
        return parse_typed(raw, default_region)
    except InvalidPhoneNumber as exc:
        raise InvalidPhoneNumber(exc.reason, (raw or "").strip()) from None


def parse_typed(raw: str, default_region: str | None = None) -> str:
    """Normalise a number a person typed to E.164, using ``default_region`` (the community's
    country) for national numbers. A trailing label like "(mobile)" is ignored; an extension
    or a vanity number (letters) is refused, since neither can receive texts. The error names
    the country the number was read in and suggests the ``+CC`` form."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("the phone number is empty")
    if len(text) > 40:
        raise InvalidPhoneNumber("the phone number is too long")
    text = LABEL.sub("", text).strip()
    extension = EXTENSION.search(text)
    if extension is not None:
        raise InvalidPhoneNumber(
            f"it has an extension ({extension.group().strip()}), and an extension cannot"
            " receive texts: give the volunteer's own mobile number"
        )
    if LETTERS.search(text) and sum(c.isdigit() for c in text) < 3:
        raise InvalidPhoneNumber(f"it is not a phone number: {GENERIC_ADVICE}")
    if LETTERS.search(text):
        raise InvalidPhoneNumber(
            "it has letters: a vanity number (like 1-800-FLOWERS) cannot receive texts;"
            " give the mobile number in digits"
        )
    region = (default_region or "").upper() or None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(_advice(text, region, None)) from None
    if number.extension:
        raise InvalidPhoneNumber(
            "it has an extension, and an extension cannot receive texts:"
            " give the volunteer's own mobile number"
        )
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(_advice(text, region, number))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# English names of the likely regions. Not phonenumbers' geocoder: importing its data costs
# about 100 MB in every web and worker process, for a word in an error message.
COUNTRY_NAMES = {
    "US": "United States", "CA": "Canada", "MX": "Mexico", "GB": "United Kingdom",
    "IE": "Ireland", "AU": "Australia", "NZ": "New Zealand", "IN": "India", "PK": "Pakistan",
    "BD": "Bangladesh", "PH": "Philippines", "NG": "Nigeria", "KE": "Kenya",
    "ZA": "South Africa", "ES": "Spain", "FR": "France", "DE": "Germany", "IT": "Italy",
    "PT": "Portugal", "NL": "Netherlands", "PL": "Poland", "UA": "Ukraine", "BR": "Brazil",
    "AR": "Argentina", "CO": "Colombia", "VE": "Venezuela", "SV": "El Salvador",
    "GT": "Guatemala", "HN": "Honduras", "DO": "Dominican Republic", "CU": "Cuba",
    "HT": "Haiti", "JM": "Jamaica", "CN": "China", "JP": "Japan", "KR": "South Korea",
    "VN": "Vietnam", "SG": "Singapore", "MY": "Malaysia", "ID": "Indonesia", "TR": "Turkey",
    "EG": "Egypt",
}  # fmt: skip


def country_name(region: str) -> str:
    """The country's English name where we know it, else its ISO code ("LK")."""
    return COUNTRY_NAMES.get(region, region)


def _advice(text: str, region: str | None, number: phonenumbers.PhoneNumber | None) -> str:
    """Why ``text`` is not a valid number, and the ``+CC`` form that would be."""
    if text.startswith("+") or region is None:
        if number is not None and number.country_code:
            where = phonenumbers.region_code_for_country_code(number.country_code)
            if where and where != phonenumbers.UNKNOWN_REGION:
                return (
                    f"it is not a valid {country_name(where)} number (+{number.country_code}):"
                    " check the digits"
                )
        return GENERIC_ADVICE
    name = country_name(region)
    read_as = f"read as a {region} number ({name}), it is not a valid number there"
    elsewhere = _valid_elsewhere(text, region)
    if elsewhere is None:
        return f"{read_as}; if it is from another country, {GENERIC_ADVICE}"
    other, valid = elsewhere
    return f"{read_as}; if it is from {country_name(other)}, write {_international(valid)}"


def _valid_elsewhere(text: str, region: str) -> tuple[str, phonenumbers.PhoneNumber] | None:
    """The first likely country where ``text`` is a valid mobile number (else any valid one)."""
    valid: list[tuple[str, phonenumbers.PhoneNumber]] = []
    for other in LIKELY_REGIONS:
        if other == region:
            continue
        try:
            number = phonenumbers.parse(text, other)
        except phonenumbers.NumberParseException:
            return None  # not a number anywhere
        if phonenumbers.is_valid_number(number):
            if phonenumbers.number_type(number) in MOBILE_TYPES:
                return other, number
            valid.append((other, number))
    return valid[0] if valid else None


def _international(number: phonenumbers.PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


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
    """``+15551234567`` → ``+1••••••4567`` for logs and read-only views."""
    if len(e164) <= 6:
        return "•" * len(e164)
    return e164[:2] + "•" * (len(e164) - 6) + e164[-4:]
