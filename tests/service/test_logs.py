"""Structured logs: one JSON line per request and per job, request ids, masked numbers,
and the optional Sentry reporting (against a fake Sentry endpoint on loopback)."""

from __future__ import annotations

import gzip
import io
import json
import logging
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from service import clock, errors, logs
from service.config import Settings
from service.db import unit_of_work
from service.models import Community, MessageKind, Volunteer
from service.sending import outbox
from service.sending.queue import queue_message
from service.volunteers.phones import mask
from tests.conftest import SmsHelper
from tests.fakes.twilio_server import FakeTwilio
from workers.senders import SendRequest, TwilioSender
from workers.worker import HandsUpWorker

PHONE = "+12025550123"
MASKED = mask(PHONE)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure_logging("json", stream=stream)
    yield stream
    logs.configure_logging("text")


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_mask_numbers_in_messages_arguments_and_extras(captured: io.StringIO) -> None:
    log = logging.getLogger("handsup.test")
    log.warning("texted %s at whatsapp:%s", PHONE, PHONE, extra={"to": PHONE, "count": 3})
    try:
        raise ValueError(f"bad number {PHONE}")
    except ValueError:
        log.exception("failed for %s", PHONE)
    entries = lines(captured)
    assert [e["level"] for e in entries] == ["warning", "error"]
    assert MASKED.startswith("+1•") and MASKED.endswith("0123")
    assert entries[0]["message"] == f"texted {MASKED} at whatsapp:{MASKED}"
    assert entries[0]["to"] == MASKED and entries[0]["count"] == 3
    assert f"ValueError: bad number {MASKED}" in entries[1]["exception"]
    assert PHONE not in captured.getvalue()


def test_one_line_per_request_with_a_request_id(app: Flask, captured: io.StringIO) -> None:
    client = app.test_client()
    first = client.get("/healthz")
    given = client.get("/healthz", headers={"X-Request-ID": "router-abc-12345"})
    hostile = client.get("/healthz", headers={"X-Request-ID": "<script> id"})
    requests = [e for e in lines(captured) if e["logger"] == "handsup.request"]
    assert len(requests) == 3
    assert requests[0]["path"] == "/healthz" and requests[0]["status"] == 200
    assert requests[0]["duration_ms"] >= 0
    assert requests[0]["request_id"] == first.headers["X-Request-ID"]
    assert given.headers["X-Request-ID"] == requests[1]["request_id"] == "router-abc-12345"
    assert hostile.headers["X-Request-ID"] != "<script> id"  # replaced by a fresh id
    assert len({r["request_id"] for r in requests}) == 3


def test_a_conversation_leaves_no_full_number_in_the_logs(
    sms: SmsHelper, captured: io.StringIO, fake_twilio: FakeTwilio
) -> None:
    sms.join(PHONE)
    sms.send(PHONE, "SHIFTS")
    sms.send(PHONE, "what is this")
    text = captured.getvalue()
    assert "handsup.request" in text and "/twilio/inbound" in text
    assert PHONE not in text and PHONE[1:] not in text
    assert MASKED in text  # the inbound handler logs who texted, masked


def test_one_line_per_job(
    session_factory: sessionmaker[Session],
    community: Community,
    redis: Redis,
    captured: io.StringIO,
    worker: Any,
    fake_twilio: FakeTwilio,
) -> None:
    with unit_of_work(session_factory) as session:
        volunteer = Volunteer(
            community_id=community.id, phone=PHONE, name="Ana", consent_at=clock.now()
        )
        session.add(volunteer)
        session.flush()
        queue_message(
            session,
            volunteer=volunteer,
            body="Hello",
            kind=MessageKind.NOTICE,
            idempotency_key="log:1",
        )
    assert outbox.enqueue_due(session_factory, redis)
    HandsUpWorker(list(outbox.QUEUES), connection=redis).work(burst=True)
    jobs = [e for e in lines(captured) if e["logger"] == "handsup.job"]
    assert len(jobs) == 1
    assert jobs[0]["job"] == "workers.dispatch.send_batch"
    assert jobs[0]["status"] == "finished" and jobs[0]["duration_ms"] > 0
    assert jobs[0]["job_id"]
    assert PHONE not in captured.getvalue()
    assert len(fake_twilio.messages) == 1


class _FakeSentry(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":  # pragma: no cover - brotli is optional in sentry-sdk
            raise AssertionError("brotli not expected")
        self.received.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_sentry_gets_errors_without_phone_numbers(settings: Settings, tmp_path: Path) -> None:
    import sentry_sdk

    from service.app import create_app

    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeSentry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _FakeSentry.received = []
    dsn = f"http://public@127.0.0.1:{server.server_port}/1"
    app = create_app(settings.replace(sentry_dsn=dsn))

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(f"boom while texting {PHONE}")

    try:
        response = app.test_client().get(f"/boom?phone={PHONE}")
        assert response.status_code == 500
        sentry_sdk.flush(timeout=5)
        payload = b"".join(_FakeSentry.received).decode()
        assert "RuntimeError" in payload and "boom while texting" in payload
        assert PHONE not in payload and PHONE[1:] not in payload
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init(dsn=None)  # later tests run without a client
        server.shutdown()
        app.extensions["handsup"].engine.dispose()


def test_sentry_is_off_without_a_dsn(settings: Settings) -> None:
    assert errors.init_sentry(settings) is False


def test_a_twilio_send_writes_none_of_the_sdks_lines(
    captured: io.StringIO, settings: Settings
) -> None:
    """The SDK logs six INFO lines per API request; under a surge 96 send threads spent a sixth
    of the worker's time on them. The send job's own line is what a coordinator reads."""
    sent = TwilioSender(settings).send(SendRequest(to=PHONE, body="Hi", from_="+12025550100"))
    assert sent.sid.startswith("SM")
    logged = lines(captured)
    assert not [line for line in logged if line["logger"].startswith("twilio")]
    logs.configure_logging("text")
    assert logging.getLogger("twilio.http_client").getEffectiveLevel() == logging.WARNING
