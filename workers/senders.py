"""Senders: the port between the dispatch job and a provider (Twilio, or the simulator).

``TwilioSender`` uses the real Twilio SDK; ``TWILIO_API_BASE_URL`` rewrites its host so tests
and benchmarks can point it at a fake Twilio server on loopback.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from service.config import Settings
from service.models import ChannelKind

SEND_TIMEOUT = 10.0  # seconds


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str


class SendError(Exception):
    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class TransientSendError(SendError):
    """Worth retrying later: rate limits, 5xx, network errors."""


class PermanentSendError(SendError):
    """Never retried: invalid number, unsubscribed recipient, unreachable handset..."""


# Twilio error codes that must never be retried (DESIGN.md, rules from the field).
PERMANENT_CODES = frozenset({21211, 21610, 21614, 30005, 30006, 30007})


class Sender(Protocol):
    def send(
        self, *, from_: str, to: str, body: str, status_callback: str | None
    ) -> SendResult: ...


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


class TwilioSender:
    def __init__(self, settings: Settings) -> None:
        if not settings.twilio_enabled:
            raise PermanentSendError("Twilio credentials are not configured")
        self.settings = settings

    @cached_property
    def client(self) -> Client:
        http_client: TwilioHttpClient
        if self.settings.twilio_api_base_url:
            http_client = RebasingHttpClient(
                self.settings.twilio_api_base_url, timeout=SEND_TIMEOUT
            )
        else:
            http_client = TwilioHttpClient(timeout=SEND_TIMEOUT)
        return Client(
            self.settings.twilio_account_sid,
            self.settings.twilio_auth_token,
            http_client=http_client,
        )

    def send(self, *, from_: str, to: str, body: str, status_callback: str | None) -> SendResult:
        params: dict[str, Any] = {"from_": from_, "to": to, "body": body}
        if status_callback:
            params["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**params)
        except TwilioRestException as exc:
            error = PermanentSendError if exc.code in PERMANENT_CODES else TransientSendError
            if (
                exc.status
                and 400 <= exc.status < 500
                and exc.status != 429
                and exc.code not in (20429,)
            ):
                error = PermanentSendError
            raise error(str(exc.msg), code=exc.code, http_status=exc.status) from exc
        except OSError as exc:  # connection refused, timeouts, DNS
            raise TransientSendError(f"network error: {exc}") from exc
        return SendResult(sid=str(message.sid), status=str(message.status or "queued"))


class SimulatorSender:
    """Local delivery: the message row is the phone; the simulator page shows it."""

    def send(self, *, from_: str, to: str, body: str, status_callback: str | None) -> SendResult:
        return SendResult(sid=f"SIM{secrets.token_hex(16)}", status="delivered")


class SenderRegistry:
    """One sender per channel kind, built on first use; tests swap one with ``override``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._senders: dict[ChannelKind, Sender] = {}

    def for_kind(self, kind: ChannelKind) -> Sender:
        if kind not in self._senders:
            if kind == ChannelKind.SIMULATOR:
                self._senders[kind] = SimulatorSender()
            else:
                twilio = self._senders.get(ChannelKind.SMS) or self._senders.get(
                    ChannelKind.WHATSAPP
                )
                self._senders[kind] = twilio or TwilioSender(self.settings)
        return self._senders[kind]

    def override(self, kind: ChannelKind, sender: Sender) -> None:
        self._senders[kind] = sender
