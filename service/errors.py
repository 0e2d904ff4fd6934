"""Optional error reporting to Sentry (``SENTRY_DSN``), for the web and worker processes.

Off unless ``SENTRY_DSN`` is set. No personal data is sent: the SDK default of no PII is kept,
request bodies (texts, form fields) are not attached, and phone numbers in messages and
exception values are masked before an event leaves the process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from service.config import Settings
from service.logs import mask_phones

if TYPE_CHECKING:
    from sentry_sdk.types import Event


def init_sentry(settings: Settings) -> bool:
    """Start the Sentry SDK when a DSN is configured; True when it was started."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.env.value,
        integrations=[FlaskIntegration(), RqIntegration()],
        max_request_body_size="never",
        include_local_variables=False,
        before_send=scrub_event,
        traces_sample_rate=0.0,
    )
    return True


def scrub_event(event: Event, hint: dict[str, Any]) -> Event | None:
    """Mask phone numbers anywhere in the event's strings."""
    return cast("Event", _scrub(event))


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phones(value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value
