"""An open-loop load generator on one thread: each webhook posted at its moment over a
connection of its own, with non-blocking sockets and a selector, whatever the answers. Imports
the stdlib only.

``bench.surge`` first posted its surge from threads with ``http.client`` (a thousand of
them, spread over four processes), each thread waiting for its next text's moment. Each
thread's connection idled longer than the 1 s after which it was replaced, so every text
went over a new connection anyway, and the threads cost 0.6-0.7 ms of CPU a text: a fifth
of the surge's CPU on a two-core machine the server shares with its load (``bench.cpu``),
taken from the web processes whose answer times the bench measures. Here a text costs its
syscalls and a few dozen lines of Python; the server sees the same requests (the same
bytes, a new connection each, ``X-Request-Start`` stamped when it is sent).

An HTTP/1.1 exchange as a router makes it: ``Connection: close`` (one request a
connection), the answer read up to its ``Content-Length`` (or the connection's end), within
``timeout`` s of the text's moment, else counted as no answer (status 0).
"""

from __future__ import annotations

import errno
import resource
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

CHUNK = 65536


@dataclass(frozen=True)
class Request:
    """A POST prepared before any timing (``post_all``'s ``stamp_header``, if any, is added
    when it is sent: the moment, in ms since the epoch, as a router's ``X-Request-Start``)."""

    path: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    """What came back for request ``index``: perf_counter moments, the HTTP status (0 when
    no answer came) and body, or the error."""

    index: int
    scheduled: float
    started: float
    ended: float
    status: int
    body: bytes = b""
    error: str = ""


@dataclass(eq=False)
class _Exchange:
    index: int
    scheduled: float
    started: float
    sock: socket.socket
    outgoing: bytes
    sent: int = 0
    incoming: bytearray = field(default_factory=bytearray)


def encode(request: Request, host: str, stamp_header: str | None, now_ms: int) -> bytes:
    """The request's bytes on the wire."""
    lines = [f"POST {request.path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    if stamp_header:
        lines.append(f"{stamp_header}: {now_ms}")
    lines.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


def parse(raw: bytes | bytearray, closed: bool) -> tuple[int, bytes] | None:
    """(status, body) once ``raw`` holds a whole answer (or the connection closed after its
    headers); None while more is to come. Raises ValueError on a malformed answer."""
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        if closed:
            raise ValueError(f"connection closed before the headers: {bytes(raw[:80])!r}")
        return None
    head = bytes(raw[:head_end]).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    length = None
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = bytes(raw[head_end + 4 :])
    if length is not None and len(body) >= length:
        return status, body[:length]
    return (status, body) if closed else None


def _new_socket() -> socket.socket:
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def _allow_open_files() -> None:
    """Raise this process' limit of open files to its hard limit: a connection a text in
    flight, and at 3 x C with answers taking a second that is many hundreds (a soft limit of
    1,024 is common)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def post_all(
    port: int,
    requests: Sequence[Request],
    rate: float,
    t0: float,
    *,
    timeout: float,
    stamp_header: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[Answer]:
    """Post request i at ``t0 + i / rate`` (``time.perf_counter``) to 127.0.0.1:``port``,
    each over a new connection, whatever the answers; returns every answer (in the order
    they came)."""
    _allow_open_files()
    host = f"127.0.0.1:{port}"
    address = ("127.0.0.1", port)
    selector = selectors.DefaultSelector()
    answers: list[Answer] = []
    open_: dict[socket.socket, _Exchange] = {}
    next_index = 0

    def finish(exchange: _Exchange, status: int, body: bytes = b"", error: str = "") -> None:
        selector.unregister(exchange.sock)
        exchange.sock.close()
        del open_[exchange.sock]
        answers.append(
            Answer(
                exchange.index, exchange.scheduled, exchange.started, clock(), status, body, error
            )
        )

    def start(index: int, scheduled: float) -> None:
        started = clock()
        outgoing = encode(requests[index], host, stamp_header, int(time.time() * 1000))
        try:
            sock = _new_socket()
        except OSError as exc:  # out of file descriptors: this text, not the loop, fails
            answers.append(Answer(index, scheduled, started, clock(), 0, error=f"socket: {exc}"))
            return
        sock.setblocking(False)
        exchange = _Exchange(index, scheduled, started, sock, outgoing)
        open_[sock] = exchange
        code = sock.connect_ex(address)
        selector.register(sock, selectors.EVENT_WRITE, exchange)
        if code not in (0, errno.EINPROGRESS):
            finish(exchange, 0, error=f"connect: {errno.errorcode.get(code, code)}")

    def on_writable(exchange: _Exchange) -> None:
        code = exchange.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            finish(exchange, 0, error=f"connect: {errno.errorcode.get(code, code)}")
            return
        try:
            exchange.sent += exchange.sock.send(exchange.outgoing[exchange.sent :])
        except OSError as exc:
            finish(exchange, 0, error=repr(exc))
            return
        if exchange.sent == len(exchange.outgoing):
            selector.modify(exchange.sock, selectors.EVENT_READ, exchange)

    def on_readable(exchange: _Exchange) -> None:
        try:
            chunk = exchange.sock.recv(CHUNK)
        except OSError as exc:
            finish(exchange, 0, error=repr(exc))
            return
        exchange.incoming += chunk
        try:
            done = parse(exchange.incoming, closed=not chunk)
        except ValueError as exc:
            finish(exchange, 0, error=str(exc))
            return
        if done is not None:
            finish(exchange, done[0], done[1])

    while next_index < len(requests) or open_:
        now = clock()
        while next_index < len(requests) and t0 + next_index / rate <= now:
            start(next_index, t0 + next_index / rate)
            next_index += 1
        wait = 0.05
        if next_index < len(requests):
            wait = min(wait, max(0.0, t0 + next_index / rate - clock()))
        for key, events in selector.select(wait):
            exchange = key.data
            if exchange.sock not in open_:
                continue
            if events & selectors.EVENT_WRITE:
                on_writable(exchange)
            elif events & selectors.EVENT_READ:
                on_readable(exchange)
        now = clock()
        expired = []
        for exchange in open_.values():  # in the order they started: the oldest first
            if now - exchange.scheduled <= timeout:
                break
            expired.append(exchange)
        for exchange in expired:
            finish(exchange, 0, error=f"no answer within {timeout:g} s")
    selector.close()
    return answers
