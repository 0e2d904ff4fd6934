"""Delete an inbound message's media at Twilio once FORGET or retention dropped our reference
to it. Idempotent: a 404 means it is gone already. A failure raises, so the job runs again."""

from __future__ import annotations

from service.conversations.media import delete as delete_at_twilio
from workers.runtime import runtime


def delete_inbound_media(message: str, media: str, reason: str = "") -> str:
    settings = runtime().settings
    if not settings.twilio_enabled:
        return "skipped: Twilio is not configured"
    if not delete_at_twilio(settings, message, media):
        raise RuntimeError(f"Twilio did not delete media {media}; it will be tried again")
    return f"deleted {media} ({reason or 'request'})"
