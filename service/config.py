"""Settings read from the environment, once, into a frozen value. Imports only the stdlib.

A missing required variable fails at start-up with a message naming it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """Configuration that cannot work; the message names the variable to set."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105 - refused outside development and tests
MIN_SECRET_KEY_BYTES = 32  # production: a session-signing key this long or longer
SURGE_IN_FLIGHT = 16  # the surge gauge's default (service.conversations.surge says why)
DEFERRED_PROCESSES = 2  # lane processes of a worker for deferred texts (about 100 MB each)
MAX_DEFERRED_PROCESSES = 16


def normalize_database_url(url: str) -> str:
    """Accept Heroku-style ``postgres://`` URLs and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_database_url(instance_path: Path) -> str:
    return f"sqlite:///{instance_path / 'handsup.db'}"


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """DATABASE_URL (normalised), else the development SQLite file under ``instance/``."""
    env_vars = os.environ if environ is None else environ
    url = env_vars.get("DATABASE_URL", "").strip()
    if url:
        return normalize_database_url(url)
    instance = env_vars.get("HANDSUP_INSTANCE_PATH", "").strip()
    return default_database_url(Path(instance) if instance else Path.cwd() / "instance")


@dataclass(frozen=True)
class Settings:
    env: Environment = Environment.DEVELOPMENT
    database_url: str = ""
    redis_url: str | None = None
    secret_key: str = DEV_SECRET_KEY
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_base_url: str | None = None
    public_base_url: str | None = None
    port: int = 5000
    pacing: bool = True  # per-sender rate limits (off only for benchmarks and tests)
    proxy_hops: int = 0  # reverse proxies in front of the app whose X-Forwarded-* to trust
    log_format: str = "text"  # "json" lines (production default) or readable "text"
    sentry_dsn: str | None = None
    metrics_token: str | None = None  # /readyz shows its figures only with this bearer token
    # Inbound webhooks in flight in one web process at which it defers texts to the worker
    # (``service.conversations.surge``).
    surge_in_flight: int = SURGE_IN_FLIGHT
    # Processes of each worker that answer deferred texts, a lane of senders each
    # (``workers.runtime``).
    deferred_processes: int = DEFERRED_PROCESSES
    instance_path: Path = field(default_factory=lambda: Path.cwd() / "instance")

    def __post_init__(self) -> None:
        if not self.database_url:
            url = default_database_url(self.instance_path)
            object.__setattr__(self, "database_url", url)
        object.__setattr__(self, "database_url", normalize_database_url(self.database_url))

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env_vars = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env_vars.get(name, "").strip()
            return value or None

        raw_env = get("HANDSUP_ENV") or Environment.PRODUCTION.value
        try:
            env = Environment(raw_env)
        except ValueError:
            choices = ", ".join(e.value for e in Environment)
            raise ConfigError(f"HANDSUP_ENV={raw_env!r} is not one of: {choices}") from None
        secret_key = get("SECRET_KEY")
        redis_url = get("REDIS_URL")
        if env is Environment.PRODUCTION:
            if get("DATABASE_URL") is None:
                raise ConfigError(
                    "DATABASE_URL is required in production "
                    "(the SQLite default is for HANDSUP_ENV=development only)"
                )
            if secret_key is None:
                raise ConfigError(
                    "SECRET_KEY is required in production "
                    "(set it, or HANDSUP_ENV=development for local use)"
                )
            if len(secret_key.encode()) < MIN_SECRET_KEY_BYTES:
                raise ConfigError(
                    f"SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes in production "
                    '(generate one: python -c "import secrets; print(secrets.token_urlsafe(48))")'
                )
            if redis_url is None:
                raise ConfigError(
                    "REDIS_URL is required in production "
                    "(the embedded Redis is for HANDSUP_ENV=development only)"
                )
        raw_port = get("PORT") or "5000"
        if not (raw_port.isascii() and raw_port.isdigit()) or not 0 < int(raw_port) < 65536:
            raise ConfigError(f"PORT={raw_port!r} is not a TCP port number")
        sid, token = get("TWILIO_ACCOUNT_SID"), get("TWILIO_AUTH_TOKEN")
        if bool(sid) != bool(token):
            missing = "TWILIO_AUTH_TOKEN" if sid else "TWILIO_ACCOUNT_SID"
            raise ConfigError(f"{missing} is required when the other Twilio credential is set")
        raw_pacing = (get("HANDSUP_PACING") or "on").lower()
        if raw_pacing not in ("on", "off"):
            raise ConfigError(f"HANDSUP_PACING={raw_pacing!r} must be on or off")
        proxy_hops = _count(get, "HANDSUP_PROXY_HOPS", 0, low=0, high=5)
        default_format = "json" if env is Environment.PRODUCTION else "text"
        log_format = (get("HANDSUP_LOG_FORMAT") or default_format).lower()
        if log_format not in ("json", "text"):
            raise ConfigError(f"HANDSUP_LOG_FORMAT={log_format!r} must be json or text")
        surge_in_flight = _count(get, "HANDSUP_SURGE_IN_FLIGHT", SURGE_IN_FLIGHT, low=2)
        deferred_processes = _count(
            get,
            "HANDSUP_DEFERRED_PROCESSES",
            DEFERRED_PROCESSES,
            low=1,
            high=MAX_DEFERRED_PROCESSES,
        )
        instance = get("HANDSUP_INSTANCE_PATH")
        return cls(
            env=env,
            database_url=get("DATABASE_URL") or "",
            redis_url=redis_url,
            secret_key=secret_key or DEV_SECRET_KEY,
            twilio_account_sid=sid,
            twilio_auth_token=token,
            twilio_api_base_url=get("TWILIO_API_BASE_URL"),
            public_base_url=(get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            port=int(raw_port),
            pacing=raw_pacing == "on",
            proxy_hops=proxy_hops,
            log_format=log_format,
            sentry_dsn=get("SENTRY_DSN"),
            metrics_token=get("HANDSUP_METRICS_TOKEN"),
            surge_in_flight=surge_in_flight,
            deferred_processes=deferred_processes,
            instance_path=Path(instance) if instance else Path.cwd() / "instance",
        )


def _count(
    get: Callable[[str], str | None], name: str, default: int, *, low: int, high: int | None = None
) -> int:
    """A whole number setting from ``low`` to ``high`` (no upper bound when None), or
    ``default`` when unset; anything else fails startup with a message naming it."""
    raw = get(name) or str(default)
    if raw.isascii() and raw.isdigit() and low <= int(raw) and (high is None or int(raw) <= high):
        return int(raw)
    bounds = f"from {low} up" if high is None else f"from {low} to {high}"
    raise ConfigError(f"{name}={raw!r} must be a number {bounds}")
