"""Slow clients do not stall the web (issue 16, finding 4), with the real processes.

The Procfile's ``web`` line runs gunicorn with ``gunicorn.conf.py``; 50 connections each send
a request line and then one header line a second, never finishing. Meanwhile ``/healthz``
and a signed Twilio webhook must each answer within a second.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request

import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.models import Community
from service.redis_conn import free_port
from tests.conftest import ACCOUNT_SID, COMMUNITY_NUMBER
from tests.fakes.twilio_server import FakeTwilio
from tests.test_processes import process_env, procfile, run_release, running, signed_post, wait_for

pytestmark = pytest.mark.slow

SLOW_CONNECTIONS = 50


def test_fifty_slow_header_connections_leave_healthz_and_the_webhook_answering(
    settings: Settings,
    community: Community,
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
) -> None:
    lines = procfile()
    port = free_port()
    env = process_env(settings, port)
    run_release(lines, env)
    with running(lines["web"], env) as web:
        wait_for(f"http://127.0.0.1:{port}/healthz", web)
        stop = threading.Event()
        slow: list[socket.socket] = []
        for _ in range(SLOW_CONNECTIONS):
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
            slow.append(connection)

        def trickle() -> None:
            while not stop.wait(1.0):
                for connection in slow:
                    with contextlib.suppress(OSError):
                        connection.sendall(b"X-Slow: 1\r\n")

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        try:
            # The attack itself lasts a while: long enough for every worker to have taken some of
            # the slow connections (a sync worker blocks on the first it accepts).
            time.sleep(2.5)
            for n in range(3):
                started = time.monotonic()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    assert r.status == 200
                assert time.monotonic() - started < 1.0, "healthz waited behind slow clients"
                form = {
                    "MessageSid": f"SM{n:032x}",
                    "AccountSid": ACCOUNT_SID,
                    "From": f"+1202555012{n}",
                    "To": COMMUNITY_NUMBER,
                    "Body": "HELP",
                    "NumMedia": "0",
                }
                started = time.monotonic()
                status, _twiml = signed_post(
                    port, "/twilio/inbound", form, settings.twilio_auth_token or ""
                )
                assert status == 200
                assert time.monotonic() - started < 1.0, "the webhook waited behind slow clients"
        finally:
            stop.set()
            trickler.join(timeout=5)
            for connection in slow:
                connection.close()
