"""Media Twilio keeps for inbound messages (MMS and WhatsApp photos, videos, files).

Twilio stores each item under the message: ``/2010-04-01/Accounts/{AccountSid}/Messages/
{MessageSid}/Media/{MediaSid}``. Its URL needs the account's credentials when HTTP auth is on
for media, so the console never links it: ``fetch`` reads it for the console's proxy route.
``delete`` removes it at Twilio (FORGET, retention), through a job
(``workers.media.delete_inbound_media``) so no webhook waits on Twilio's REST API. The URL is
always built from our own account and ``TWILIO_API_BASE_URL``, never taken from a request.
Imports requests, ``service.config`` and the models.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy.orm import Session

from service.config import Settings
from service.models import Message
from service.sending import outbox

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
TIMEOUT = 10.0  # seconds; a console page waits on it, a job retries
MAX_BYTES = 20 * 1024 * 1024  # WhatsApp's largest media; MMS is far smaller
DELETE_JOB = "workers.media.delete_inbound_media"


class MediaUnavailable(RuntimeError):
    """Twilio did not give the media (deleted, not configured, unreachable)."""


@dataclass(frozen=True)
class Media:
    content: bytes
    content_type: str


def _url(settings: Settings, message_sid: str, media_sid: str) -> str:
    base = (settings.twilio_api_base_url or TWILIO_API).rstrip("/")
    account = settings.twilio_account_sid or ""
    return f"{base}/2010-04-01/Accounts/{account}/Messages/{message_sid}/Media/{media_sid}"


def _auth(settings: Settings) -> tuple[str, str]:
    if not settings.twilio_enabled:
        raise MediaUnavailable("Twilio credentials are not configured")
    return (settings.twilio_account_sid or "", settings.twilio_auth_token or "")


def fetch(settings: Settings, message_sid: str, media_sid: str) -> Media:
    """The media's bytes and content type, as Twilio serves them."""
    try:
        response = requests.get(
            _url(settings, message_sid, media_sid),
            auth=_auth(settings),
            timeout=TIMEOUT,
            stream=True,
        )
        with response:
            if response.status_code != 200:
                raise MediaUnavailable(f"Twilio answered {response.status_code}")
            content = response.raw.read(MAX_BYTES + 1, decode_content=True)
            content_type = response.headers.get("Content-Type", "application/octet-stream")
    except requests.RequestException as exc:
        raise MediaUnavailable(f"Twilio unreachable: {type(exc).__name__}") from None
    if len(content) > MAX_BYTES:
        raise MediaUnavailable("the media is larger than any Twilio stores")
    return Media(content, content_type.split(";")[0].strip())


def delete(settings: Settings, message_sid: str, media_sid: str) -> bool:
    """Delete the media at Twilio; True when it is gone (deleted now or before)."""
    response = requests.delete(
        _url(settings, message_sid, media_sid) + ".json", auth=_auth(settings), timeout=TIMEOUT
    )
    if response.status_code in (204, 404):
        return True
    log.warning("twilio: deleting media %s answered %s", media_sid, response.status_code)
    return False


def forget_media(session: Session, messages: list[Message], reason: str) -> int:
    """Drop the media references of ``messages`` and queue their deletion at Twilio (in the
    caller's transaction: the outbox job runs once it commits); returns how many items."""
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.media and message.twilio_sid:
            items.extend({"message": message.twilio_sid, "media": m["sid"]} for m in message.media)
        message.media = None
        message.location = None
    for item in items:
        outbox.add(
            session,
            job=DELETE_JOB,
            payload={**item, "reason": reason},
            dedupe_key=f"media-delete:{item['media']}",
        )
    return len(items)
