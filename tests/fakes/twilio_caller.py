"""Twilio's side of the webhooks, over real HTTP: signed ``POST /twilio/inbound`` requests to a
running web process (gunicorn), the way Twilio sends them, for multi-process and fault tests.

``TwilioCaller.form()`` builds an inbound form with a fresh MessageSid; ``post()`` signs it with
``RequestValidator`` over ``PUBLIC_BASE_URL`` + path and returns a ``WebhookAnswer`` whatever
the outcome (an HTTP error status, or status 0 for a refused or dropped connection), so a test
can count 200/503/500 and re-post the same form, as Twilio's retries do, until it gets a 200.
Imports the Twilio SDK and the standard library only.
"""

from __future__ import annotations

import http.client
import itertools
import secrets
import threading
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

INBOUND_PATH = "/twilio/inbound"


@dataclass(frozen=True)
class WebhookAnswer:
    status: int  # 0: no HTTP answer at all (connection refused, reset, timed out)
    body: str
    retry_after: str | None = None
    error: str = ""

    @property
    def texts(self) -> list[str]:
        """The TwiML reply texts of a 200."""
        if self.status != 200 or not self.body.startswith("<?xml"):
            return []
        return [el.text or "" for el in ET.fromstring(self.body).iter("Message")]


class TwilioCaller:
    """Signs and posts inbound webhooks; thread-safe (one urllib request per call)."""

    def __init__(self, auth_token: str, public_base_url: str, account_sid: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.public_base_url = public_base_url
        self.account_sid = account_sid
        self._prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def new_sid(self) -> str:
        with self._lock:
            n = next(self._counter)
        return f"SM{self._prefix}{n:024x}"

    def form(self, sender: str, body: str, to: str) -> dict[str, str]:
        return {
            "MessageSid": self.new_sid(),
            "AccountSid": self.account_sid,
            "From": sender,
            "To": to,
            "Body": body,
            "NumMedia": "0",
        }

    def post(
        self, port: int, form: dict[str, str], path: str = INBOUND_PATH, timeout: float = 15
    ) -> WebhookAnswer:
        signature = self.validator.compute_signature(self.public_base_url + path, form)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=urlencode(form).encode(),
            headers={"X-Twilio-Signature": signature},
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return WebhookAnswer(response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            with exc:
                body = exc.read().decode(errors="replace")
            return WebhookAnswer(exc.code, body, exc.headers.get("Retry-After"))
        except (OSError, http.client.HTTPException) as exc:
            return WebhookAnswer(0, "", None, f"{type(exc).__name__}: {exc}")
