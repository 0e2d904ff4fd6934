"""Logging: one JSON line per event (request, job, warning), with phone numbers masked.

``configure_logging(settings)`` installs one handler on the root logger: JSON lines in
production (``HANDSUP_LOG_FORMAT=json``), readable text in development. Every record passes
``PhoneMaskFilter``, so an E.164 number that slipped into a message or argument is logged as
``+1•••••••4567``. ``init_app`` adds a request id (the router's ``X-Request-ID`` when it sends a
sane one) and logs each request once with its status and duration. Imports stdlib and Flask.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from flask import Flask, Response, g, request

from service.volunteers.phones import mask

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# E.164 with an optional whatsapp: prefix; long digit runs elsewhere (ids) have no "+".
_PHONE = re.compile(r"\+[1-9]\d{6,14}")
# Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def mask_phones(text: str) -> str:
    return _PHONE.sub(lambda m: mask(m.group(0)), text)


class PhoneMaskFilter(logging.Filter):
    """Masks phone numbers in the message, its arguments and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_phones(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_phones(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")


NOISY_LOGGERS = ("werkzeug", "twilio.http_client")


def configure_logging(
    log_format: str, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Install HandsUp's handler on the root logger, replacing an earlier one (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "handsup", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.handsup = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(PhoneMaskFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's access lines duplicate ours; the Twilio SDK writes six lines at INFO for every
    # API request (a send job logs one line per send itself): under a surge the worker's 96 send
    # threads spent a sixth of its time formatting them and waiting on the handler's lock.
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def request_id() -> str:
    rid: str = g.get("request_id") or ""
    return rid


def init_app(app: Flask) -> None:
    access = logging.getLogger("handsup.request")

    @app.before_request
    def start_request() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else secrets.token_hex(8)
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        started = g.get("request_started")
        if started is None:
            return response
        response.headers[REQUEST_ID_HEADER] = request_id()
        if request.endpoint != "static":
            access.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "request_id": request_id(),
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "endpoint": request.endpoint or "",
                },
            )
        return response
