"""Signing in and out: password, optional TOTP code, community switching, 2FA enrolment.

A successful sign-in starts a fresh session (``session.clear()`` first, so a session planted
before sign-in carries nothing over) holding the coordinator id and their ``session_epoch``;
signing out, a password reset and a two-factor change bump the epoch, so every older session
(a saved cookie too) stops working. Attempts are throttled in Redis (``ratelimit``): passwords
per account and address with a per-account backstop, codes per account across sign-ins.
The TOTP secret being enrolled waits in Redis, never in the (readable) session cookie.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import pyotp
from flask import abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select

from service import clock
from service.communities import audit
from service.communities.accounts import hash_password, verify_password
from service.models import Coordinator, Membership
from service.web.console import bp
from service.web.console.access import current
from service.web.console.ratelimit import LoginLimiter
from service.web.extensions import db_session, resources
from service.web.params import parse_id

TOTP_ISSUER = "HandsUp"


@cache
def _dummy_hash() -> str:
    """Checked when the email is unknown, so a wrong email costs as long as a wrong password."""
    return hash_password(secrets.token_hex(16))


def _limiter() -> LoginLimiter:
    return LoginLimiter(resources().redis)


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _safe_next(target: str | None) -> str:
    """Only redirect back into the console (never to another host)."""
    if target and target.isprintable() and len(target) <= 2000:  # no CR/LF, NUL or controls
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/console"):
            return target
    return url_for("console.dashboard")


def _throttled(retry_after: int) -> ResponseReturnValue:
    minutes = max(1, (retry_after + 59) // 60)
    message = f"Too many failed attempts. Try again in {minutes} minute(s)."
    return (
        render_template("console/login.html", error=message),
        429,
        {"Retry-After": str(retry_after)},
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("console/login.html", next=request.args.get("next", ""))
    email = request.form.get("email", "").strip().lower()[:254]
    password = request.form.get("password", "")[:1024]
    next_url = request.form.get("next", "")
    limiter = _limiter()
    try:
        wait = limiter.attempt(email, _client_ip())  # counted before the check
        if wait is not None:
            return _throttled(wait)
        dbs = db_session()
        coordinator = dbs.scalar(select(Coordinator).where(Coordinator.email == email))
        if coordinator is None:
            verify_password(Coordinator(password_hash=_dummy_hash()), password)
        if coordinator is None or not verify_password(coordinator, password):
            error = "That email and password do not match."
            return render_template("console/login.html", error=error, next=next_url), 401
        limiter.succeeded(email, _client_ip())
    except RedisError:
        abort(503)
    session.clear()
    if coordinator.totp_enabled_at is not None:
        session["pending_coordinator_id"] = coordinator.id
        session["pending_epoch"] = coordinator.session_epoch
        session["next"] = next_url
        return redirect(url_for("console.login_code"))
    return _complete_login(coordinator, next_url)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> ResponseReturnValue:
    pending = session.get("pending_coordinator_id")
    if pending is None:
        return redirect(url_for("console.login"))
    dbs = db_session()
    coordinator = dbs.get(Coordinator, pending)
    if (
        coordinator is None
        or coordinator.totp_secret is None
        or coordinator.session_epoch != session.get("pending_epoch")
    ):
        session.clear()
        return redirect(url_for("console.login"))
    if request.method == "GET":
        return render_template("console/login_code.html")
    limiter = _limiter()
    try:
        # Counted per account across sign-ins: a correct password does not reset the count.
        wait = limiter.code_attempt(coordinator.id, _client_ip())
        if wait is not None:
            return _throttled(wait)
        if not _code_ok(limiter, coordinator, request.form.get("code", "")):
            error = "That code is not right. Use the current code from your app."
            return render_template("console/login_code.html", error=error), 401
        limiter.code_succeeded(coordinator.id, _client_ip())
    except RedisError:
        abort(503)
    next_url = session.get("next", "")
    session.clear()
    return _complete_login(coordinator, next_url)


def _code_ok(limiter: LoginLimiter, coordinator: Coordinator, raw: str) -> bool:
    code = "".join(ch for ch in raw if ch.isdigit())
    if coordinator.totp_secret is None or len(code) != 6:
        return False
    totp = pyotp.TOTP(coordinator.totp_secret)
    moment = clock.now()
    for drift in (0, -1, 1):  # accept the neighbouring 30-second steps (clock skew)
        step = totp.timecode(moment) + drift
        if secrets.compare_digest(totp.generate_otp(step), code):
            return limiter.claim_totp_step(coordinator.id, step)
    return False


@dataclass(frozen=True)
class TotpCandidates:
    """The secret shown during enrolment, kept server-side until a code confirms it.

    The session cookie is signed, not encrypted: a secret in it could be read by anyone who
    sees the cookie, and would outlive the enrolment.
    """

    redis: Redis
    seconds: int = 30 * 60

    def _key(self, coordinator_id: int) -> str:
        return f"handsup:totp-candidate:{coordinator_id}"

    def get(self, coordinator_id: int) -> str | None:
        value = self.redis.get(self._key(coordinator_id))
        return value.decode() if isinstance(value, bytes) else value

    def get_or_create(self, coordinator_id: int) -> str:
        self.redis.set(self._key(coordinator_id), pyotp.random_base32(), nx=True, ex=self.seconds)
        found = self.get(coordinator_id)
        assert found is not None
        return found

    def discard(self, coordinator_id: int) -> None:
        self.redis.delete(self._key(coordinator_id))


def _complete_login(coordinator: Coordinator, next_url: str) -> ResponseReturnValue:
    dbs = db_session()
    membership = dbs.scalar(
        select(Membership).where(Membership.coordinator_id == coordinator.id).limit(1)
    )
    if membership is None:
        error = "This account does not coordinate any community yet."
        return render_template("console/login.html", error=error), 403
    coordinator.last_login_at = clock.now()
    dbs.commit()
    session.clear()
    session.permanent = True
    session["coordinator_id"] = coordinator.id
    session["epoch"] = coordinator.session_epoch
    session["community_id"] = membership.community_id
    return redirect(_safe_next(next_url))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out here and everywhere: a cookie saved before this no longer opens the console."""
    coordinator = current().coordinator
    coordinator.session_epoch += 1
    db_session().commit()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("console.login"))


@bp.post("/switch")
def switch() -> ResponseReturnValue:
    context = current()
    wanted = parse_id(request.form.get("community_id"))
    if wanted is None or all(c.id != wanted for _, c in context.memberships):
        abort(404)
    session["community_id"] = wanted
    return redirect(url_for("console.dashboard"))


@bp.route("/account/two-factor", methods=["GET", "POST"])
def totp_setup() -> ResponseReturnValue:
    """Enrol an authenticator app: show a new secret, turn it on once a code matches."""
    context = current()
    coordinator = context.coordinator
    candidates = TotpCandidates(resources().redis)
    if request.method == "GET":
        if coordinator.totp_enabled_at is not None:
            return render_template("console/totp_setup.html", enabled=True)
        try:
            secret = candidates.get_or_create(coordinator.id)
        except RedisError:
            abort(503)
        uri = pyotp.TOTP(secret).provisioning_uri(name=coordinator.email, issuer_name=TOTP_ISSUER)
        return render_template(
            "console/totp_setup.html", enabled=False, secret=secret, otpauth_uri=uri
        )
    try:
        candidate = candidates.get(coordinator.id)
    except RedisError:
        abort(503)
    if not candidate or coordinator.totp_enabled_at is not None:
        return redirect(url_for("console.totp_setup"))
    secret = candidate
    code = "".join(ch for ch in request.form.get("code", "") if ch.isdigit())
    if not pyotp.TOTP(secret).verify(code, for_time=clock.now(), valid_window=1):
        uri = pyotp.TOTP(secret).provisioning_uri(name=coordinator.email, issuer_name=TOTP_ISSUER)
        return render_template(
            "console/totp_setup.html",
            enabled=False,
            secret=secret,
            otpauth_uri=uri,
            error="That code does not match. Check the key and try the next code.",
        ), 400
    dbs = db_session()
    coordinator.totp_secret = secret
    coordinator.totp_enabled_at = clock.now()
    coordinator.session_epoch += 1  # other sessions signed in without the second factor end
    audit.record(
        dbs,
        community_id=context.community.id,
        actor=coordinator,
        action="enabled two-factor",
        subject=f"coordinator:{coordinator.id}",
    )
    dbs.commit()
    session["epoch"] = coordinator.session_epoch  # this session is the one that enrolled
    candidates.discard(coordinator.id)
    flash("Two-factor sign-in is on. You will be asked for a code at each sign-in.")
    return redirect(url_for("console.dashboard"))
