"""The worker's HTTP client for the Twilio SDK (``service.sending.twilio_api.PooledHttpClient``)
against real sockets on loopback: what a failed send means (retry, or ask Twilio first), the
environment's proxy, and the form the SDK's default client would have sent."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs

import pytest
from twilio.rest import Client

from service.config import Environment, Settings
from service.sending.twilio_api import NetworkError, PooledHttpClient
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from workers.senders import AmbiguousSendError, SendRequest, TransientSendError, TwilioSender

ANA = "+12025550123"
SENDER = "+12025550100"
MESSAGE_JSON = b'{"sid": "SM%s", "status": "queued"}' % (b"1" * 32)
Seen = tuple[str, dict[str, str], bytes, int]  # path, headers, body, the client's port


def sender_for(base_url: str, tmp_path: Path) -> TwilioSender:
    return TwilioSender(
        Settings(
            env=Environment.TEST,
            database_url="sqlite://",
            redis_url="redis://127.0.0.1:1/0",
            secret_key="test",
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_api_base_url=base_url,
            instance_path=tmp_path,
        )
    )


def hello(to: str = ANA) -> SendRequest:
    return SendRequest(to=to, body="Hello", from_=SENDER)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def listener(serve: Callable[[socket.socket], None]) -> Iterator[str]:
    """A loopback socket whose one connection ``serve`` handles; yields its base URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    done = threading.Event()

    def run() -> None:
        connection, _ = server.accept()
        with connection:
            serve(connection)
            done.wait(10)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        done.set()
        thread.join(10)
        server.close()


def read_request(connection: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    return received


def test_a_refused_connection_is_retried_without_asking_twilio(tmp_path: Path) -> None:
    sender = sender_for(f"http://127.0.0.1:{unused_port()}", tmp_path)

    with pytest.raises(TransientSendError) as raised:
        sender.send(hello())

    assert not isinstance(raised.value, AmbiguousSendError)
    assert "network error" in str(raised.value)


def test_a_connection_dropped_after_the_request_may_have_reached_twilio(tmp_path: Path) -> None:
    def take_request_and_hang_up(connection: socket.socket) -> None:
        read_request(connection)
        connection.shutdown(socket.SHUT_RDWR)

    with listener(take_request_and_hang_up) as url, pytest.raises(AmbiguousSendError):
        sender_for(url, tmp_path).send(hello())


def test_an_answer_that_never_comes_is_ambiguous_after_the_read_timeout() -> None:
    received = threading.Event()

    def take_request_and_say_nothing(connection: socket.socket) -> None:
        read_request(connection)
        received.set()

    with listener(take_request_and_say_nothing) as url:
        client = Client(
            ACCOUNT_SID, AUTH_TOKEN, http_client=PooledHttpClient(base_url=url, timeout=0.5)
        )
        with pytest.raises(NetworkError) as raised:
            client.messages.create(to=ANA, from_=SENDER, body="Hello")

    assert received.is_set() and raised.value.may_have_arrived
    assert "ReadTimeoutError" in str(raised.value)


class Recorder(BaseHTTPRequestHandler):
    """Answers every POST like Twilio's Messages resource and keeps what it was sent."""

    protocol_version = "HTTP/1.1"  # keep-alive, as Twilio's API
    seen: ClassVar[list[Seen]] = []  # each server gets a subclass with a list of its own

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, dict(self.headers), body, self.client_address[1]))
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(MESSAGE_JSON)))
        self.end_headers()
        self.wfile.write(MESSAGE_JSON)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[Seen]]]:
    seen: list[Seen] = []  # each server gets a subclass with a list of its own
    handler = type("OwnRecorder", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()
    thread.join(10)


def use_proxy(monkeypatch: pytest.MonkeyPatch, proxy_url: str, no_proxy: str = "") -> None:
    """The environment a PaaS gives: a proxy for http, and hosts exempt from it."""
    monkeypatch.delenv("ALL_PROXY", raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    for name, value in (("HTTP_PROXY", proxy_url), ("NO_PROXY", no_proxy)):
        monkeypatch.setenv(name, value)
        monkeypatch.setenv(name.lower(), value)


def test_the_environments_proxy_carries_the_request(
    recorder: tuple[str, list[Seen]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    proxy_url, seen = recorder
    use_proxy(monkeypatch, proxy_url)

    result = sender_for("http://twilio.invalid", tmp_path).send(hello())

    assert result.sid == "SM" + "1" * 32
    [(path, headers, _, _)] = seen
    assert path == f"http://twilio.invalid/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert headers["Authorization"].startswith("Basic ")


def test_a_host_the_environment_exempts_from_the_proxy_is_reached_directly(
    recorder: tuple[str, list[Seen]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    proxy_url, seen = recorder
    use_proxy(monkeypatch, proxy_url, no_proxy="twilio.invalid")

    with pytest.raises(TransientSendError) as raised:  # twilio.invalid does not resolve
        sender_for("http://twilio.invalid", tmp_path).send(hello())

    assert not isinstance(raised.value, AmbiguousSendError) and seen == []


def test_the_form_is_what_the_sdks_own_client_sends(
    recorder: tuple[str, list[Seen]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = recorder
    monkeypatch.setenv("no_proxy", "*")
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=PooledHttpClient(base_url=url))

    client.messages.create(
        to=ANA,
        from_=SENDER,
        body="Caf\u00e9 & tea = 2\u20ac",
        media_url=["https://example.org/a.png", "https://example.org/b.png"],
        status_callback="https://example.org/twilio/status?m=7",
    )

    [(path, headers, body, _)] = seen
    assert path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(body.decode("ascii"), strict_parsing=True) == {
        "To": [ANA],
        "From": [SENDER],
        "Body": ["Caf\u00e9 & tea = 2\u20ac"],
        "MediaUrl": ["https://example.org/a.png", "https://example.org/b.png"],
        "StatusCallback": ["https://example.org/twilio/status?m=7"],
    }


def test_connections_are_kept_alive_across_sends(
    recorder: tuple[str, list[Seen]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, seen = recorder
    monkeypatch.setenv("no_proxy", "*")
    sender = sender_for(url, tmp_path)

    for n in range(5):
        sender.send(hello(f"+1202555{n:04d}"))

    assert len(seen) == 5 and len({port for *_, port in seen}) == 1
