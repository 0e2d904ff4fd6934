"""The console's cookie sessions, and none for Twilio's webhooks. Imports Flask.

Flask opens the signed cookie session of every request before its view runs (building an
``itsdangerous`` serializer each time), whether or not the view reads it. Twilio's webhooks
never carry a cookie and never write one, and under surge an acknowledgement is cheap enough
that this was 3 % of its CPU (``bench.surge``, issue 18): their requests get Flask's null
session instead, which any write would refuse loudly.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's own cookie sessions, except for paths under ``sessionless`` prefixes."""

    def __init__(self, sessionless: tuple[str, ...]) -> None:
        self.sessionless = sessionless

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(self.sessionless):
            return self.make_null_session(app)
        return super().open_session(app, request)
