"""Senders: the port between the dispatch job and a provider (Twilio, or the simulator).

``TwilioSender`` uses the real Twilio SDK over a pooled HTTP client per send thread
(``service.sending.twilio_api.PooledHttpClient``: connections are reused across a batch);
``TWILIO_API_BASE_URL`` rewrites its host so tests and benchmarks can point it at a fake
Twilio server on loopback. ``find_sent`` asks the provider whether an
interrupted send was accepted after all, so a recovered send is never sent twice.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from service.config import Settings
from service.models import ChannelKind
from service.sending.twilio_api import NetworkError, twilio_client

SEND_TIMEOUT = 10.0  # seconds


@dataclass(frozen=True)
class SendRequest:
    """One message as the provider gets it: free text (``body``) or a template."""

    to: str
    body: str
    from_: str = ""
    messaging_service_sid: str | None = None
    content_sid: str | None = None
    content_variables: dict[str, str] = field(default_factory=dict)
    status_callback: str | None = None


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


class AmbiguousSendError(TransientSendError):
    """The request may have reached the provider (timeout, connection lost mid-request):
    before sending again, ask the provider whether it accepted the message."""


class PermanentSendError(SendError):
    """Never retried: invalid number, unsubscribed recipient, unreachable handset..."""


# Twilio error codes that must never be retried (DESIGN.md, rules from the field).
PERMANENT_CODES = frozenset({21211, 21610, 21614, 30005, 30006, 30007, 63016})
TRANSIENT_CODES = frozenset({20429, 30001, 30003, 30008})


class Sender(Protocol):
    def send(self, request: SendRequest) -> SendResult: ...

    def find_sent(self, request: SendRequest, since: datetime) -> list[SendResult]:
        """Messages the provider accepted since ``since`` that match ``request``, oldest
        first (the caller skips SIDs that belong to other rows)."""
        ...


class TwilioSender:
    """Sends with the Twilio SDK; one client (and pooled keep-alive connection) per thread."""

    def __init__(self, settings: Settings) -> None:
        if not settings.twilio_enabled:
            raise PermanentSendError("Twilio credentials are not configured")
        self.settings = settings
        self._local = threading.local()

    @property
    def client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = twilio_client(self.settings, timeout=SEND_TIMEOUT)
        return client

    def send(self, request: SendRequest) -> SendResult:
        params: dict[str, Any] = {"to": request.to}
        if request.messaging_service_sid:
            params["messaging_service_sid"] = request.messaging_service_sid
        else:
            params["from_"] = request.from_
        if request.content_sid:
            params["content_sid"] = request.content_sid
            params["content_variables"] = json.dumps(request.content_variables)
        else:
            params["body"] = request.body
        if request.status_callback:
            params["status_callback"] = request.status_callback
        try:
            message = self.client.messages.create(**params)
        except TwilioRestException as exc:
            raise classify(exc) from exc
        except NetworkError as exc:
            raise network_error(exc) from exc
        return SendResult(sid=str(message.sid), status=str(message.status or "queued"))

    def find_sent(self, request: SendRequest, since: datetime) -> list[SendResult]:
        filters: dict[str, Any] = {"to": request.to, "limit": 50}
        if not request.messaging_service_sid:
            filters["from_"] = request.from_
        try:
            candidates = self.client.messages.list(**filters)
        except TwilioRestException as exc:
            raise classify(exc) from exc
        except NetworkError as exc:
            raise network_error(exc) from exc
        found: list[SendResult] = []
        for message in reversed(candidates):  # oldest first: the first send is the one we lost
            if message.date_created is None or message.date_created < since:
                continue
            if request.messaging_service_sid and (
                message.messaging_service_sid != request.messaging_service_sid
            ):
                continue
            if not request.content_sid and message.body != request.body:
                continue
            found.append(SendResult(sid=str(message.sid), status=str(message.status or "queued")))
        return found


def classify(exc: TwilioRestException) -> SendError:
    """Permanent for the codes that must never be retried and for other 4xx answers;
    transient for rate limits (429, 20429), server errors and carrier hiccups."""
    code, status = exc.code, exc.status
    permanent = code in PERMANENT_CODES or (
        code not in TRANSIENT_CODES and status is not None and 400 <= status < 500 and status != 429
    )
    kind = PermanentSendError if permanent else TransientSendError
    return kind(str(exc.msg), code=code, http_status=status)


def network_error(exc: NetworkError) -> TransientSendError:
    """A connection that was never made is safe to retry; anything later is ambiguous."""
    if exc.may_have_arrived:
        return AmbiguousSendError(f"network error: {exc}")
    return TransientSendError(f"network error: {exc}")


class SimulatorSender:
    """Local delivery: the message row is the phone; the simulator page shows it."""

    def send(self, request: SendRequest) -> SendResult:
        return SendResult(sid=f"SIM{secrets.token_hex(16)}", status="delivered")

    def find_sent(self, request: SendRequest, since: datetime) -> list[SendResult]:
        return []  # nothing leaves the machine: sending again is harmless


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
