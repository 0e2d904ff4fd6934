"""A fake Twilio REST API on loopback that the real Twilio SDK talks to (point the app at it with
``TWILIO_API_BASE_URL``): ``FakeTwilio`` records every message posted to
``/2010-04-01/Accounts/{AccountSid}/Messages.json`` (plain, Messaging Service and Content
template sends) as a ``SentMessage``, serves the list (filtered by To/From/DateSent and paged
like Twilio, most recent first) and fetch endpoints, and lets tests program failures
(``fail_next`` for the next POSTs, ``fail_for`` for one recipient), close a recipient's WhatsApp
24-hour window (free-form sends then fail with 63016) and add API ``latency`` (and ``jitter``;
``max_in_flight`` in the stats says how many sends were open at once). It also keeps inbound
media (``add_media``), serves it at Twilio's media URL with the account's credentials and
records deletions (``deleted_media``). The Content API's create, list and fetch
(``/v1/Content``) keep the templates created (``contents``, a ``StoredContent`` each), and a
message sent with a ``ContentSid`` records it and its ``ContentVariables``. It is a small
HTTP/1.1 keep-alive server built on ``http.server`` (werkzeug's development server closes
every connection), with control endpoints under ``/_fake/`` (stats, messages with the moment
each arrived, reset, latency) on loopback. ``python -m tests.fakes.twilio_server --account-sid
AC... --auth-token TOKEN`` runs it as its own process for benchmarks and multi-process tests;
``FakeTwilioProcess`` starts one and drives those control endpoints.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import re
import secrets
import select
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

API_VERSION = "2010-04-01"
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
MESSAGE_PATH = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$"
)
MEDIA_PATH = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<message>[^/]+)"
    r"/Media/(?P<media>[^/.]+)(?P<json>\.json)?$"
)
# The Content API (content.twilio.com; the SDK's requests are rebased onto this server too).
CONTENTS_PATH = re.compile(r"^/v1/Content$")
CONTENT_PATH = re.compile(r"^/v1/Content/(?P<sid>HX[0-9a-f]{32})$")
CONTROL_PREFIX = "/_fake/"
WHATSAPP_PREFIX = "whatsapp:"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
WINDOW_CLOSED_CODE = 63016
WINDOW_CLOSED_MESSAGE = (
    "Failed to send freeform message because you are outside the allowed window. "
    "Please use a Template."
)
LOOPBACK_ADDRESSES = frozenset({"127.0.0.1", "::1"})
REPO_ROOT = Path(__file__).resolve().parents[2]
DATE_FILTERS = ("DateSent", "DateSent<", "DateSent>")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _content_json(content: StoredContent) -> dict[str, Any]:
    stamp = content.date_created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "sid": content.sid,
        "friendly_name": content.friendly_name,
        "language": content.language,
        "variables": content.variables,
        "types": content.types,
        "date_created": stamp,
        "date_updated": stamp,
        "url": f"https://content.twilio.com/v1/Content/{content.sid}",
        "links": {},
    }


@dataclass(frozen=True)
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    params: dict[str, str]
    messaging_service_sid: str | None = None
    content_sid: str | None = None
    content_variables: dict[str, str] | None = None
    date_created: datetime = field(default_factory=_utcnow)

    @property
    def status(self) -> str:
        """What Twilio answers on create: ``accepted`` for Messaging Service sends."""
        return "accepted" if self.messaging_service_sid and not self.from_ else "queued"


@dataclass(frozen=True)
class Failure:
    status: int
    code: int
    message: str


@dataclass
class _ArmedFailure:
    failure: Failure
    remaining: int | None  # None: until reset()


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class StoredContent:
    """A content template created through the Content API (``POST /v1/Content``)."""

    sid: str
    friendly_name: str
    language: str
    variables: dict[str, str]
    types: dict[str, Any]
    date_created: datetime = field(default_factory=_utcnow)


@dataclass(frozen=True)
class StoredMedia:
    """A media item Twilio keeps for an inbound message (``add_media``)."""

    message_sid: str
    media_sid: str
    content_type: str
    content: bytes


class FakeTwilio:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        port: int = 0,
        latency: float = 0.0,
        jitter: float = 0.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[SentMessage] = []
        self.requests = 0
        self.latency: float = latency  # seconds each POST waits before answering
        self._initial_latency = latency
        self.jitter: float = jitter  # each POST waits latency +/- up to this much (uniform)
        self._initial_jitter = jitter
        self.in_flight = 0  # message POSTs being answered now
        self.max_in_flight = 0  # the most at once since the last reset
        self._failures: list[Failure] = []
        self._number_failures: dict[str, list[_ArmedFailure]] = {}
        self._closed_windows: set[str] = set()
        self._by_sid: dict[str, SentMessage] = {}
        self.media: dict[str, StoredMedia] = {}  # by media SID
        self.deleted_media: list[str] = []  # media SIDs deleted through the API, in order
        self.contents: dict[str, StoredContent] = {}  # Content API templates, by SID
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._expected_authorization = f"Basic {credentials}"
        self._server = _Server(("127.0.0.1", port), self)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-twilio", daemon=True
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # wake handler threads idling on keep-alive sockets
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()

    def reset(self) -> None:
        """Forget messages, requests, failures and closed windows; restore the initial latency."""
        with self._lock:
            self.messages.clear()
            self._by_sid.clear()
            self.media.clear()
            self.deleted_media.clear()
            self.contents.clear()
            self._failures.clear()
            self._number_failures.clear()
            self._closed_windows.clear()
            self.requests = 0
            self.latency = self._initial_latency
            self.jitter = self._initial_jitter
            self.max_in_flight = 0

    # -- programming behaviour -----------------------------------------------------------------

    def fail_next(
        self, *, status: int, code: int, message: str = "failure", times: int = 1
    ) -> None:
        with self._lock:
            self._failures.extend([Failure(status, code, message)] * times)

    def fail_for(
        self,
        number: str,
        *,
        status: int,
        code: int,
        message: str = "failure",
        times: int | None = 1,
    ) -> None:
        """Fail the next ``times`` POSTs to ``number`` (or ``whatsapp:<number>``); None: always.

        Checked before the ``fail_next`` queue; several calls for one number apply in order.
        """
        if times is not None and times <= 0:
            return
        with self._lock:
            armed = _ArmedFailure(Failure(status, code, message), times)
            self._number_failures.setdefault(number, []).append(armed)

    def add_media(self, message_sid: str, media_sid: str, content_type: str, content: bytes) -> str:
        """Keep media for an inbound message, as Twilio does; returns its URL at Twilio."""
        with self._lock:
            self.media[media_sid] = StoredMedia(message_sid, media_sid, content_type, content)
        return (
            f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}"
            f"/Messages/{message_sid}/Media/{media_sid}"
        )

    def close_whatsapp_window(self, number: str) -> None:
        """Free-form sends to ``whatsapp:<number>`` now fail with 63016; templates still go."""
        with self._lock:
            self._closed_windows.add(_bare(number))

    def open_whatsapp_window(self, number: str) -> None:
        with self._lock:
            self._closed_windows.discard(_bare(number))

    # -- inspecting ----------------------------------------------------------------------------

    def sent_to(self, number: str) -> list[SentMessage]:
        return [m for m in self.messages if m.to in (number, f"whatsapp:{number}")]

    def bodies(self, numbers: Iterable[str] | None = None) -> list[str]:
        wanted = set(numbers) if numbers is not None else None
        return [m.body for m in self.messages if wanted is None or m.to in wanted]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            by_to: dict[str, int] = {}
            for message in self.messages:
                by_to[message.to] = by_to.get(message.to, 0) + 1
            return {
                "messages": len(self.messages),
                "requests": self.requests,
                "by_to": by_to,
                "max_in_flight": self.max_in_flight,
            }

    # -- HTTP ----------------------------------------------------------------------------------

    def _track(self, connection: socket.socket, *, active: bool) -> None:
        with self._lock:
            if active:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _dispatch(
        self, method: str, target: str, authorization: str, body: bytes, client: str
    ) -> _Reply:
        parts = urlsplit(target)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if path.startswith(CONTROL_PREFIX):
            return self._control(method, path, body, client)
        with self._lock:
            self.requests += 1
        content = CONTENTS_PATH.match(path) or CONTENT_PATH.match(path)
        if content is not None:
            if authorization != self._expected_authorization:
                return _error(401, 20003, "Authenticate")
            return self._content(method, content, body, query)
        media = MEDIA_PATH.match(path)
        if media is not None:
            if (
                media["account"] != self.account_sid
                or authorization != self._expected_authorization
            ):
                return _error(401, 20003, "Authenticate")
            return self._media(method, media, path)
        match = MESSAGES_PATH.match(path) or MESSAGE_PATH.match(path)
        if match is None or (method, match.re) not in {
            ("POST", MESSAGES_PATH),
            ("GET", MESSAGES_PATH),
            ("GET", MESSAGE_PATH),
        }:
            return _error(404, 20404, "The requested resource was not found")
        if match["account"] != self.account_sid or authorization != self._expected_authorization:
            return _error(401, 20003, "Authenticate")
        if match.re is MESSAGE_PATH:
            return self._fetch(match["sid"], path)
        if method == "GET":
            return self._list(query)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self._create({k: v[0] for k, v in parse_qs(body.decode()).items()})
            latency = self.latency
            if self.jitter > 0:
                latency = max(0.0, latency + random.uniform(-self.jitter, self.jitter))
            if latency > 0:
                time.sleep(latency)  # never under the lock: other requests keep flowing
        finally:
            with self._lock:
                self.in_flight -= 1
        return reply

    def _create(self, params: dict[str, str]) -> _Reply:
        to = params.get("To", "")
        with self._lock:
            failure = self._take_number_failure(to) if to else None
            if failure is None and self._failures:
                failure = self._failures.pop(0)
        if failure is not None:
            return _error(failure.status, failure.code, failure.message)
        if not to or not (params.get("From") or params.get("MessagingServiceSid")):
            return _error(400, 21604, "A 'To' and 'From' phone number is required.")
        content_sid = params.get("ContentSid")
        if not (params.get("Body") or content_sid or params.get("MediaUrl")):
            return _error(400, 21602, "Message body is required.")
        content_variables: dict[str, str] | None = None
        if "ContentVariables" in params:
            try:
                parsed = json.loads(params["ContentVariables"])
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                return _error(400, 21656, "The ContentVariables Parameter is invalid.")
            content_variables = {str(k): str(v) for k, v in parsed.items()}
        with self._lock:
            window_closed = to.startswith(WHATSAPP_PREFIX) and _bare(to) in self._closed_windows
        if window_closed and not content_sid:
            return _error(400, WINDOW_CLOSED_CODE, WINDOW_CLOSED_MESSAGE)
        with self._lock:
            message = SentMessage(
                sid="SM" + secrets.token_hex(16),
                to=to,
                from_=params.get("From", ""),
                body=params.get("Body", ""),
                status_callback=params.get("StatusCallback"),
                params=params,
                messaging_service_sid=params.get("MessagingServiceSid"),
                content_sid=content_sid,
                content_variables=content_variables,
                date_created=_utcnow(),
            )
            self.messages.append(message)
            self._by_sid[message.sid] = message
        return _json(201, self._message_json(message))

    def _content(
        self, method: str, match: re.Match[str], body: bytes, query: dict[str, str]
    ) -> _Reply:
        """POST /v1/Content creates a template (JSON body), GET lists them (one page, in the
        order created) and GET /v1/Content/HX... fetches one."""
        if match.re is CONTENT_PATH:
            with self._lock:
                stored = self.contents.get(match["sid"])
            if method != "GET" or stored is None:
                return _error(404, 20404, "The requested resource was not found")
            return _json(200, _content_json(stored))
        if method == "GET":
            with self._lock:
                snapshot = list(self.contents.values())
            page_size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
            url = "https://content.twilio.com/v1/Content"
            meta = {
                "page": 0,
                "page_size": page_size,
                "first_page_url": f"{url}?PageSize={page_size}&Page=0",
                "previous_page_url": None,
                "url": f"{url}?PageSize={page_size}&Page=0",
                "next_page_url": None,
                "key": "contents",
            }
            return _json(200, {"contents": [_content_json(c) for c in snapshot], "meta": meta})
        if method != "POST":
            return _error(405, 20004, "Method not allowed")
        try:
            request = json.loads(body.decode() or "{}")
        except ValueError:
            return _error(400, 20001, "The request body must be JSON")
        types = {k: v for k, v in (request.get("types") or {}).items() if v is not None}
        if not request.get("friendly_name") or not types:
            return _error(400, 20001, "friendly_name and types are required")
        stored = StoredContent(
            sid="HX" + secrets.token_hex(16),
            friendly_name=str(request["friendly_name"]),
            language=str(request.get("language") or "en"),
            variables={str(k): str(v) for k, v in (request.get("variables") or {}).items()},
            types=types,
        )
        with self._lock:
            self.contents[stored.sid] = stored
        return _json(201, _content_json(stored))

    def _media(self, method: str, match: re.Match[str], path: str) -> _Reply:
        """GET .../Media/ME... serves the bytes; DELETE .../Media/ME....json deletes them."""
        with self._lock:
            stored = self.media.get(match["media"])
            if stored is None or stored.message_sid != match["message"]:
                return _error(404, 20404, f"The requested resource {path} was not found")
            if method == "DELETE" and match["json"]:
                del self.media[stored.media_sid]
                self.deleted_media.append(stored.media_sid)
                return _Reply(204, b"")
        if method == "GET" and not match["json"]:
            return _Reply(200, stored.content, stored.content_type)
        return _error(405, 20004, "Method not allowed")

    def _take_number_failure(self, to: str) -> Failure | None:
        """The failure armed for ``to`` (or its bare number for WhatsApp); caller holds lock."""
        candidates = [to, _bare(to)] if to.startswith(WHATSAPP_PREFIX) else [to]
        for number in candidates:
            queue = self._number_failures.get(number)
            if not queue:
                continue
            armed = queue[0]
            if armed.remaining is not None:
                armed.remaining -= 1
                if armed.remaining <= 0:
                    queue.pop(0)
                    if not queue:
                        del self._number_failures[number]
            return armed.failure
        return None

    def _fetch(self, sid: str, path: str) -> _Reply:
        with self._lock:
            message = self._by_sid.get(sid)
        if message is None:
            return _error(404, 20404, f"The requested resource {path} was not found")
        return _json(200, self._message_json(message))

    def _list(self, query: dict[str, str]) -> _Reply:
        try:
            page_size = min(max(int(query.get("PageSize", DEFAULT_PAGE_SIZE)), 1), MAX_PAGE_SIZE)
            page = max(int(query.get("Page", 0)), 0)
            bounds = {name: _parse_when(query[name]) for name in DATE_FILTERS if name in query}
        except ValueError as exc:
            return _error(400, 20001, f"Invalid parameter: {exc}")
        with self._lock:
            snapshot = list(self.messages)
        wanted = [
            m
            for m in reversed(snapshot)  # most recent first, like Twilio
            if ("To" not in query or m.to == query["To"])
            and ("From" not in query or m.from_ == query["From"])
            and _date_matches(m.date_created, bounds)
        ]
        start = page * page_size
        token = query.get("PageToken", "")
        if token.startswith("PA"):
            after = next((i for i, m in enumerate(wanted) if m.sid == token[2:]), None)
            if after is not None:
                start = after + 1
        records = wanted[start : start + page_size]
        filters = [(name, query[name]) for name in ("To", "From", *DATE_FILTERS) if name in query]
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

        def page_uri(number: int, page_token: str | None = None) -> str:
            params: list[tuple[str, str | int]] = [
                *filters,
                ("PageSize", page_size),
                ("Page", number),
            ]
            if page_token:
                params.append(("PageToken", page_token))
            return f"{base}?{urlencode(params)}"

        more = start + page_size < len(wanted)
        payload = {
            "messages": [self._message_json(m) for m in records],
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1, "PA" + records[-1].sid) if more else None,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "uri": page_uri(page, token or None),
            "page": page,
            "page_size": page_size,
            "start": start,
            "end": start + len(records) - 1 if records else start,
        }
        return _json(200, payload)

    def _message_json(self, message: SentMessage) -> dict[str, Any]:
        stamp = format_datetime(message.date_created.astimezone(UTC).replace(microsecond=0))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message.body,
            "date_created": stamp,
            "date_sent": stamp,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_ or None,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": message.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": message.to,
            "uri": f"{uri}.json",
        }

    def _control(self, method: str, path: str, body: bytes, client: str) -> _Reply:
        if client not in LOOPBACK_ADDRESSES:
            return _error(403, 20403, "Control endpoints answer on loopback only")
        action = (method, path.removeprefix(CONTROL_PREFIX).rstrip("/"))
        if action == ("GET", "stats"):
            return _json(200, self.stats())
        if action == ("GET", "messages"):
            with self._lock:
                snapshot = list(self.messages)
            return _json(200, [_control_json(m) for m in snapshot])
        if action == ("POST", "reset"):
            self.reset()
            return _json(200, {"reset": True})
        if action == ("POST", "latency"):
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            try:
                seconds = float(form["seconds"])
            except (KeyError, ValueError):
                return _error(400, 20001, "Form field 'seconds' must be a number")
            try:
                jitter = float(form.get("jitter", "0"))
            except ValueError:
                return _error(400, 20001, "Form field 'jitter' must be a number")
            if not (seconds >= 0 and jitter >= 0):  # also rejects NaN
                return _error(400, 20001, "Form fields 'seconds' and 'jitter' must be >= 0")
            self.latency, self.jitter = seconds, jitter
            return _json(200, {"latency": seconds, "jitter": jitter})
        return _error(404, 20404, "The requested resource was not found")


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: every response carries Content-Length; bodies are drained."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # headers and body leave in one send when handle_one_request flushes
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, active=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, active=False)

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            reply = _error(400, 20001, "Invalid Content-Length")
        else:
            body = self.rfile.read(length) if length else b""
            try:
                reply = self.server.fake._dispatch(
                    self.command,
                    self.path,
                    self.headers.get("Authorization", ""),
                    body,
                    self.client_address[0],
                )
            except Exception:
                traceback.print_exc()
                reply = _error(500, 20500, "Internal Server Error")
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a request line per message would swamp benchmark output."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # bursts of new connections from many workers

    def __init__(self, address: tuple[str, int], fake: FakeTwilio) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


def _bare(number: str) -> str:
    return number.removeprefix(WHATSAPP_PREFIX)


def _parse_when(value: str) -> tuple[datetime, bool]:
    """A DateSent filter value: ``YYYY-MM-DD`` (a whole day) or an ISO 8601 timestamp."""
    text = value.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC), True
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC), False


def _date_matches(created: datetime, bounds: dict[str, tuple[datetime, bool]]) -> bool:
    """Twilio's inclusive DateSent filters, at its one-second resolution."""
    moment = created.astimezone(UTC).replace(microsecond=0)
    if "DateSent" in bounds and moment.date() != bounds["DateSent"][0].date():
        return False
    if "DateSent>" in bounds and moment < bounds["DateSent>"][0]:
        return False
    if "DateSent<" in bounds:
        limit, whole_day = bounds["DateSent<"]
        if (moment >= limit + timedelta(days=1)) if whole_day else (moment > limit):
            return False
    return True


def _control_json(message: SentMessage) -> dict[str, Any]:
    return {
        "sid": message.sid,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "messaging_service_sid": message.messaging_service_sid,
        "content_sid": message.content_sid,
        "content_variables": message.content_variables,
        # when the POST arrived, in seconds since the epoch (bench.surge times answers by it)
        "received_at": message.date_created.timestamp(),
    }


def _json(status: int, payload: Any) -> _Reply:
    return _Reply(status, json.dumps(payload).encode())


def _error(status: int, code: int, message: str) -> _Reply:
    return _json(status, {"code": code, "message": message, "more_info": "", "status": status})


# -- process mode ------------------------------------------------------------------------------


class FakeTwilioProcess:
    """Runs the fake in its own process (``python -m tests.fakes.twilio_server``).

    Use as a context manager; ``url`` is the base URL for ``TWILIO_API_BASE_URL``.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        port: int = 0,
        latency: float = 0.0,
        jitter: float = 0.0,
        startup_timeout: float = 15.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.port = port
        self.latency = latency
        self.jitter = jitter
        self.startup_timeout = startup_timeout
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def __enter__(self) -> FakeTwilioProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> FakeTwilioProcess:
        command = [
            sys.executable,
            "-m",
            "tests.fakes.twilio_server",
            "--account-sid",
            self.account_sid,
            "--auth-token",
            self.auth_token,
            "--port",
            str(self.port),
            "--latency",
            str(self.latency),
            "--jitter",
            str(self.jitter),
        ]
        self._process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
        )
        try:
            self.url = self._read_url(self._process)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int | None:
        """The fake's process id while it runs (a benchmark reads its CPU time)."""
        return None if self._process is None else self._process.pid

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "stats")
        return result

    def messages(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "messages")
        return result

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def set_latency(self, seconds: float, jitter: float = 0.0) -> None:
        self._call("POST", "latency", {"seconds": str(seconds), "jitter": str(jitter)})

    def _call(self, method: str, name: str, form: dict[str, str] | None = None) -> Any:
        if not self.url:
            raise RuntimeError("the fake Twilio process is not running")
        data = urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(f"{self.url}{CONTROL_PREFIX}{name}", data, method=method)
        with self._opener.open(request, timeout=10) as response:
            return json.loads(response.read())

    def _read_url(self, process: subprocess.Popen[bytes]) -> str:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + self.startup_timeout
        buffer = b""
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"fake Twilio printed no URL within {self.startup_timeout}s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"fake Twilio exited ({process.poll()}) before its URL line")
            buffer += chunk
        line = buffer.split(b"\n", 1)[0].decode().strip()
        if not line.startswith("URL "):
            raise RuntimeError(f"unexpected first line from fake Twilio: {line!r}")
        return line.removeprefix("URL ")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.twilio_server",
        description="Serve a fake Twilio REST API on loopback until SIGTERM/SIGINT.",
    )
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per POST")
    parser.add_argument(
        "--jitter", type=float, default=0.0, help="each POST's latency +/- up to this (uniform)"
    )
    args = parser.parse_args(argv)
    fake = FakeTwilio(
        args.account_sid, args.auth_token, port=args.port, latency=args.latency, jitter=args.jitter
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fake.start()
    print(f"URL {fake.url}", flush=True)
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
