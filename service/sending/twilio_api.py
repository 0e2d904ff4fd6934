"""The Twilio SDK client, built from the settings: ``TWILIO_API_BASE_URL`` rebases every request
(``api.twilio.com``, ``content.twilio.com``...) onto one host, so tests and benchmarks can point
the SDK at a fake Twilio server on loopback. Imports the Twilio SDK and ``service.config``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from service.config import Settings

API_TIMEOUT = 10.0  # seconds


class RebasingHttpClient(TwilioHttpClient):
    """Sends every Twilio API request to ``base_url`` instead of ``*.twilio.com``."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(base_url)
        self._scheme, self._netloc = parts.scheme, parts.netloc

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        rebased = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, ""))
        response: Response = super().request(method, rebased, *args, **kwargs)
        return response


def twilio_client(settings: Settings, timeout: float = API_TIMEOUT) -> Client:
    """A client for the account in ``settings`` (rebased when ``TWILIO_API_BASE_URL`` is set)."""
    http_client: TwilioHttpClient
    if settings.twilio_api_base_url:
        http_client = RebasingHttpClient(settings.twilio_api_base_url, timeout=timeout)
    else:
        http_client = TwilioHttpClient(timeout=timeout)
    return Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)
