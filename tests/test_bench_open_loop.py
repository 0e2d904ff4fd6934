"""``bench.open_loop``: the surge's load generator posts every request at its moment over a
connection of its own, reads each answer whole, and counts a missing one as no answer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from bench import open_loop
from bench.open_loop import Request, encode, parse, post_all


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, bytes, str, int]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        port = self.client_address[1]
        self.seen.append((self.path, body, self.headers.get("X-Request-Start", ""), port))
        answer = b"<Response><Message>" + body + b"</Message></Response>"
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_every_request_is_posted_once_at_its_moment_and_answered_whole(
    server: ThreadingHTTPServer,
) -> None:
    requests = [Request("/twilio/inbound", f"text {i}".encode(), {"X-A": "1"}) for i in range(40)]
    t0 = time.perf_counter() + 0.05
    before_ms = int(time.time() * 1000)
    answers = post_all(
        server.server_address[1], requests, 200.0, t0, timeout=10, stamp_header="X-Request-Start"
    )
    assert sorted(a.index for a in answers) == list(range(40))
    for answer in answers:
        assert answer.status == 200, answer.error
        expected = f"<Response><Message>text {answer.index}</Message></Response>"
        assert answer.body == expected.encode()
        assert answer.scheduled == pytest.approx(t0 + answer.index / 200.0)
        assert answer.started >= answer.scheduled  # never early
        assert answer.ended >= answer.started
    seen = _Recorder.seen
    assert sorted(body for _, body, _, _ in seen) == sorted(r.body for r in requests)
    assert {path for path, _, _, _ in seen} == {"/twilio/inbound"}
    assert all(int(stamp) >= before_ms for _, _, stamp, _ in seen)
    assert len({port for _, _, _, port in seen}) == 40  # a connection of its own each


def test_a_server_that_never_answers_is_no_answer_after_the_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepted by the kernel, never answered
        started = time.perf_counter()
        answers = post_all(
            listener.getsockname()[1], [Request("/x", b"a", {})], 1.0, started, timeout=0.3
        )
    assert [(a.status, a.error) for a in answers] == [(0, "no answer within 0.3 s")]
    assert answers[0].ended - started >= 0.3


def test_a_refused_connection_is_no_answer_with_its_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: connections are refused
        answers = post_all(port, [Request("/x", b"a", {})], 1.0, time.perf_counter(), timeout=5)
    assert len(answers) == 1
    assert answers[0].status == 0
    assert "ECONNREFUSED" in answers[0].error


def test_the_wire_format_and_the_answer_parser() -> None:
    raw = encode(Request("/p", b"k=v", {"X-Twilio-Signature": "s"}), "h:1", "X-Request-Start", 7)
    head, body = raw.split(b"\r\n\r\n")
    assert body == b"k=v"
    assert head.split(b"\r\n") == [
        b"POST /p HTTP/1.1",
        b"Host: h:1",
        b"Connection: close",
        b"X-Twilio-Signature: s",
        b"X-Request-Start: 7",
        b"Content-Length: 3",
    ]
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"
    assert parse(answer, closed=False) is None  # two bytes to come
    assert parse(answer + b"lo", closed=False) == (200, b"hello")
    assert parse(b"HTTP/1.1 503 Busy\r\n\r\nlater", closed=True) == (503, b"later")
    with pytest.raises(ValueError, match="before the headers"):
        parse(b"HTTP/1.1 200", closed=True)


def test_a_request_whose_socket_cannot_be_opened_is_no_answer_and_the_rest_go_on(
    server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = open_loop._new_socket
    opened = []

    def socket_or_none_left() -> socket.socket:
        opened.append(1)
        if len(opened) == 2:
            raise OSError(24, "Too many open files")
        return real()

    monkeypatch.setattr(open_loop, "_new_socket", socket_or_none_left)
    requests = [Request("/x", f"{i}".encode(), {}) for i in range(3)]
    answers = post_all(server.server_address[1], requests, 100.0, time.perf_counter(), timeout=5)
    by_index = {a.index: a for a in answers}
    assert [by_index[i].status for i in range(3)] == [200, 0, 200]
    assert by_index[1].error == "socket: [Errno 24] Too many open files"
