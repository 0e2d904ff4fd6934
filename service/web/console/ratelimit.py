"""Login throttling in Redis: failed attempts counted per account and per client IP.

Fixed windows keyed by the account's email and by the IP; a success clears the account's
count. Shared by every web process, so scaling out does not multiply the allowance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis import Redis

WINDOW_SECONDS = 15 * 60
ACCOUNT_LIMIT = 5  # failed passwords or codes per account per window
IP_LIMIT = 20  # failed attempts from one address per window, whatever the account


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"handsup:login-fail:{kind}:{digest}"


@dataclass(frozen=True)
class LoginLimiter:
    redis: Redis

    def retry_after(self, email: str, ip: str) -> int | None:
        """Seconds until another attempt is allowed, or None when allowed now."""
        for key, limit in ((_key("acct", email), ACCOUNT_LIMIT), (_key("ip", ip), IP_LIMIT)):
            count = self.redis.get(key)
            if count is not None and int(count) >= limit:
                ttl = int(self.redis.ttl(key))
                return ttl if ttl > 0 else WINDOW_SECONDS
        return None

    def failed(self, email: str, ip: str) -> None:
        pipe = self.redis.pipeline()
        for key in (_key("acct", email), _key("ip", ip)):
            pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)  # the window starts at the first failure
            pipe.incr(key)  # keeps the key's expiry
        pipe.execute()

    def succeeded(self, email: str) -> None:
        self.redis.delete(_key("acct", email))

    def claim_totp_step(self, coordinator_id: int, step: int) -> bool:
        """True the first time a (coordinator, time step) is used: a code works only once."""
        key = f"handsup:totp-used:{coordinator_id}:{step}"
        return bool(self.redis.set(key, "1", nx=True, ex=120))
