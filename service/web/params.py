"""Request values read as bounded integers and finite numbers, in one place.

An id is a positive integer that fits PostgreSQL's ``integer`` (below 2**31). Anything else
named as an id is not an object of ours: the URL converter answers 404 (the route does not
match), the helpers here answer 400. ``finite_number`` refuses ``inf``, ``nan`` and huge
exponents. ``init_app`` installs the converter as ``int``, so every ``<int:...>`` route is
bounded, and a value the database refuses (``DataError``) is a 400 logged without its SQL.
Imports Flask, werkzeug and SQLAlchemy's exceptions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from flask import Flask, abort, request
from flask.typing import ResponseReturnValue
from sqlalchemy import exc as sa_exc
from werkzeug.routing import IntegerConverter, Map

log = logging.getLogger(__name__)

MAX_ID = 2**31 - 1  # PostgreSQL integer
MAX_DIGITS = 10


class BoundedIntConverter(IntegerConverter):
    """``<int:x>``: 0 to 2**31-1 unless a route says otherwise; a larger number does not match."""

    def __init__(
        self,
        url_map: Map,
        fixed_digits: int = 0,
        min: int | None = 0,
        max: int | None = MAX_ID,
        signed: bool = False,
    ) -> None:
        super().__init__(url_map, fixed_digits, min, max, signed)


def parse_id(raw: str | None) -> int | None:
    """The id in ``raw``, or None when it is not a plain number from 0 to 2**31-1."""
    if raw is None:
        return None
    text = raw.strip()
    if not text or len(text) > MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def id_value(values: Mapping[str, Any], name: str) -> int | None:
    """An optional id from a query string or form: None when absent or blank, 400 when bad."""
    raw = values.get(name)
    if raw is None or not str(raw).strip():
        return None
    found = parse_id(str(raw))
    if found is None:
        abort(400, description=f"{name} must be a number")
    return found


def page_value(values: Mapping[str, Any], name: str = "page") -> int:
    """A page number: 1 when absent or not a sane number (pages are clamped by their callers)."""
    found = parse_id(values.get(name))
    return found if found is not None and found >= 1 else 1


def small_int(values: Mapping[str, Any], name: str) -> int | None:
    """An optional small number (months, counts): None when absent or not a bounded number."""
    return parse_id(values.get(name))


def finite_number(raw: str, *, limit: float = 1e6) -> float:
    """A finite decimal number of sane size; ValueError otherwise (inf, nan, 1e308, text)."""
    value = float(raw)
    if not math.isfinite(value) or abs(value) > limit:
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def refused_by_database(error: sa_exc.DataError) -> ResponseReturnValue:
    """A value the database cannot hold (out of range, malformed): the client's error, a 400.

    Logged as a warning with the error class only: no traceback, no SQL text, no values.
    """
    log.warning(
        "%s %s: a value was refused by the database (%s); answered 400",
        request.method,
        request.path,
        type(error.orig).__name__ if error.orig is not None else "DataError",
    )
    return "That request was not understood.\n", 400, {"Content-Type": "text/plain"}


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = BoundedIntConverter
    app.register_error_handler(sa_exc.DataError, refused_by_database)
