"""Refusing requests whose query string or form carries a NUL character: 400, not a 500.

PostgreSQL text cannot hold NUL (SQLite can), so such a value would fail deep inside a query,
a search or an insert. No browser form and no Twilio webhook sends one, so it is malformed
input, answered like any other. ``init_blueprint`` registers the check on a blueprint; on the
Twilio blueprint it runs after the signature check, so an unsigned request is still a 403.
Imports Flask only.
"""

from __future__ import annotations

from flask import Blueprint, abort, request

NUL = "\x00"


def refuse_nul_characters() -> None:
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if NUL in key or NUL in value:
                abort(400, description="NUL characters are not allowed")


def init_blueprint(bp: Blueprint) -> None:
    bp.before_request(refuse_nul_characters)
