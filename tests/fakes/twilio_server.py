"""A fake Twilio REST API on loopback: records every message the real SDK posts to it.

Point the app at it with ``TWILIO_API_BASE_URL``. Programmable failures let tests exercise
retries and permanent errors: ``fail_next(status=429, code=20429)``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")


@dataclass(frozen=True)
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    params: dict[str, str]


@dataclass(frozen=True)
class Failure:
    status: int
    code: int
    message: str


class FakeTwilio:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[SentMessage] = []
        self.requests = 0
        self._failures: list[Failure] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self._failures.clear()
            self.requests = 0

    def fail_next(
        self, *, status: int, code: int, message: str = "failure", times: int = 1
    ) -> None:
        with self._lock:
            self._failures.extend([Failure(status, code, message)] * times)

    def sent_to(self, number: str) -> list[SentMessage]:
        return [m for m in self.messages if m.to in (number, f"whatsapp:{number}")]

    def bodies(self, numbers: Iterable[str] | None = None) -> list[str]:
        wanted = set(numbers) if numbers is not None else None
        return [m.body for m in self.messages if wanted is None or m.to in wanted]

    def _authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization", "") == f"Basic {expected}"

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.requests += 1
        match = MESSAGES_PATH.match(request.path)
        if request.method != "POST" or match is None:
            return _error(404, 20404, "The requested resource was not found")
        if match["account"] != self.account_sid or not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        params = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return _error(failure.status, failure.code, failure.message)
        if not params.get("To") or not (params.get("From") or params.get("MessagingServiceSid")):
            return _error(400, 21604, "A 'To' and 'From' phone number is required.")
        sid = "SM" + secrets.token_hex(16)
        message = SentMessage(
            sid=sid,
            to=params["To"],
            from_=params.get("From", ""),
            body=params.get("Body", ""),
            status_callback=params.get("StatusCallback"),
            params=params,
        )
        with self._lock:
            self.messages.append(message)
        payload = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": message.to,
            "from": message.from_,
            "body": message.body,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return Response(json.dumps(payload), status=201, mimetype="application/json")


def _error(status: int, code: int, message: str) -> Response:
    body = {"code": code, "message": message, "more_info": "", "status": status}
    return Response(json.dumps(body), status=status, mimetype="application/json")
