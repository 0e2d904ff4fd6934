"""Read an inbound-message webhook's form the way Twilio writes it, and refuse any other shape.

Twilio's signature joins parameter names and values with no separator, so a captured request
can be re-cut (``MessageSid=<sid>NumMedia0`` without ``NumMedia``) and still validate. The
signature alone therefore does not prove the request is one Twilio sent; its shape must too:

- every SID is well formed (``SM``/``MM`` + 32 hex for messages, the same for SMS, MMS and
  WhatsApp; ``MG`` for a Messaging Service, ``ME`` for media), and ``SmsSid`` /
  ``SmsMessageSid`` repeat ``MessageSid``;
- ``AccountSid`` is our account;
- the parameters Twilio always sends are there (``MessageSid``, ``AccountSid``, ``From``,
  ``To``, ``Body``, ``NumMedia``), media come as ``MediaUrl{n}``/``MediaContentType{n}`` for
  exactly ``n < NumMedia``, each URL is Twilio's own for this message, and a location has
  both coordinates;
- a name Twilio may add later is accepted if it is shaped like Twilio's (``PascalCase``
  letters) and does not begin with a name we know (a re-cut name does).

``From`` is read leniently (``service.volunteers.phones.parse_twilio_sender``): Twilio has
validated it, so a possible number, a short code or an alphanumeric sender is never refused.
Imports the standard library and ``service`` modules only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import urlsplit

from service.conversations.inbound import (
    MAX_BODY_LENGTH,
    InboundMessage,
    Location,
    MediaRef,
)
from service.volunteers.phones import (
    InvalidPhoneNumber,
    SenderKind,
    parse_twilio_address,
    parse_twilio_sender,
)

MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")
SERVICE_SID = re.compile(r"MG[0-9a-f]{32}")
MEDIA_SID = re.compile(r"ME[0-9a-f]{32}")
MEDIA_NAME = re.compile(r"(MediaUrl|MediaContentType)(0|[1-9][0-9]?)")
CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*", re.IGNORECASE)
FUTURE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")
MAX_MEDIA = 10
MAX_PAYLOAD = 200
MAX_FIELD = 4096
REQUIRED = ("MessageSid", "AccountSid", "From", "To", "Body", "NumMedia")
# Every parameter Twilio documents for an incoming SMS, MMS or WhatsApp message (besides
# MediaUrl{n} and MediaContentType{n}): the webhook request guide and the WhatsApp guide.
KNOWN = frozenset(
    {
        *REQUIRED,
        "SmsSid",
        "SmsMessageSid",
        "MessagingServiceSid",
        "NumSegments",
        "SmsStatus",
        "ApiVersion",
        "MessageType",
        "ChannelMetadata",
        "FromCity",
        "FromState",
        "FromZip",
        "FromCountry",
        "ToCity",
        "ToState",
        "ToZip",
        "ToCountry",
        # WhatsApp
        "ProfileName",
        "WaId",
        "Forwarded",
        "FrequentlyForwarded",
        "ButtonText",
        "ButtonPayload",
        "ButtonType",
        "ListId",
        "ListTitle",
        "ListItemDescription",
        "Latitude",
        "Longitude",
        "Address",
        "Label",
        "OriginalRepliedMessageSender",
        "OriginalRepliedMessageSid",
        "ReferralBody",
        "ReferralHeadline",
        "ReferralSourceId",
        "ReferralSourceType",
        "ReferralSourceUrl",
        "ReferralMediaId",
        "ReferralMediaContentType",
        "ReferralMediaUrl",
        "ReferralNumMedia",
        "ReferralCtwaClid",
    }
)
# The parameters whose values HandsUp acts on (docs/sending.md documents each).
ACTED_ON = (
    *REQUIRED,
    "SmsSid",
    "SmsMessageSid",
    "MessagingServiceSid",
    "MediaUrl{n}",
    "MediaContentType{n}",
    "Latitude",
    "Longitude",
    "Address",
    "Label",
    "ButtonPayload",
    "ButtonText",
    "ListId",
    "ListTitle",
)
MEDIA_HOST_SUFFIX = ".twilio.com"
# ``phonenumbers`` parses a number in 20-40 us; the same few service numbers and the same
# volunteers text again and again. Pure functions of the string, so memoised (a refused
# string raises and is not remembered). Bounded: a flood of new numbers evicts, never grows.
_sender = lru_cache(maxsize=4096)(parse_twilio_sender)
_address = lru_cache(maxsize=256)(parse_twilio_address)


class BadWebhook(ValueError):
    """A webhook request that cannot be a real Twilio message."""


def parse_inbound(form: Mapping[str, str], account_sid: str) -> InboundMessage:
    """The ``InboundMessage`` in ``form``; BadWebhook (a 400) when Twilio would not send it."""
    _check_names(form)
    sid = form["MessageSid"]
    if not MESSAGE_SID.fullmatch(sid):
        raise BadWebhook("MessageSid is not a Twilio message SID")
    for alias in ("SmsSid", "SmsMessageSid"):
        if alias in form and form[alias] != sid:
            raise BadWebhook(f"{alias} differs from MessageSid")
    if form["AccountSid"] != account_sid:
        raise BadWebhook("AccountSid is not this service's Twilio account")
    service = form.get("MessagingServiceSid")
    if service is not None and not SERVICE_SID.fullmatch(service):
        raise BadWebhook("MessagingServiceSid is not a Twilio Messaging Service SID")
    for name, value in form.items():
        if len(value) > (MAX_BODY_LENGTH if name == "Body" else MAX_FIELD):
            raise BadWebhook(f"{name} is too long")
    body = form["Body"]
    try:
        sender = _sender(form["From"])
        to = _address(form["To"])
    except InvalidPhoneNumber as exc:
        raise BadWebhook(f"From/To: {exc}") from None
    if sender.kind != to.kind:
        raise BadWebhook("From and To are on different channels")
    media = _media(form, sid, account_sid)
    payload = (form.get("ButtonPayload") or form.get("ListId") or "").strip()
    if len(payload) > MAX_PAYLOAD:
        raise BadWebhook(f"ButtonPayload/ListId is longer than {MAX_PAYLOAD} characters")
    return InboundMessage(
        sid=sid,
        kind=to.kind,
        sender=sender.address,
        to=to.e164,
        body=body.strip(),
        num_media=len(media),
        sender_kind=sender.sender_kind,
        media=media,
        location=_location(form),
        payload=payload or None,
    )


def _check_names(form: Mapping[str, str]) -> None:
    missing = [name for name in REQUIRED if name not in form]
    if missing:
        raise BadWebhook(f"missing {', '.join(missing)}")
    for name in form:
        if name in KNOWN or MEDIA_NAME.fullmatch(name):
            continue
        if not FUTURE_NAME.fullmatch(name) or any(name.startswith(k) for k in KNOWN):
            raise BadWebhook(f"{name[:40]!r} is not a parameter Twilio sends")


def _media(form: Mapping[str, str], sid: str, account_sid: str) -> tuple[MediaRef, ...]:
    raw = form["NumMedia"]
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_MEDIA:
        raise BadWebhook(f"NumMedia must be a number from 0 to {MAX_MEDIA}")
    count = int(raw)
    indexes = {int(m.group(2)) for name in form if (m := MEDIA_NAME.fullmatch(name))}
    if indexes - set(range(count)):
        raise BadWebhook("media parameters beyond NumMedia")
    refs = []
    for n in range(count):
        url, content_type = form.get(f"MediaUrl{n}"), form.get(f"MediaContentType{n}")
        if url is None or content_type is None:
            raise BadWebhook(f"MediaUrl{n} and MediaContentType{n} are required")
        if not CONTENT_TYPE.fullmatch(content_type):
            raise BadWebhook(f"MediaContentType{n} is not a content type")
        refs.append(MediaRef(_media_sid(url, sid, account_sid), content_type.lower()))
    return tuple(refs)


def _media_sid(url: str, sid: str, account_sid: str) -> str:
    """The ``ME`` SID of Twilio's media URL for this message (and no other URL)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = parts.path.split("/")
    expected = ["", "2010-04-01", "Accounts", account_sid, "Messages", sid, "Media"]
    if (
        parts.scheme != "https"
        or not (host == "api.twilio.com" or host.endswith(MEDIA_HOST_SUFFIX))
        or len(path) != len(expected) + 1
        or path[:-1] != expected
        or not MEDIA_SID.fullmatch(path[-1])
    ):
        raise BadWebhook("a MediaUrl is not Twilio's URL for this message's media")
    return path[-1]


def _location(form: Mapping[str, str]) -> Location | None:
    latitude, longitude = form.get("Latitude"), form.get("Longitude")
    if latitude is None and longitude is None:
        return None
    try:
        lat, lon = float(latitude or "x"), float(longitude or "x")
    except ValueError:
        raise BadWebhook("Latitude and Longitude must be numbers") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        raise BadWebhook("Latitude/Longitude out of range")
    return Location(lat, lon, form.get("Address", "").strip(), form.get("Label", "").strip())


__all__ = ["BadWebhook", "SenderKind", "parse_inbound"]
