"""Throttles in Redis: sign-in attempts, two-factor codes and searches by number.

Each attempt is counted *before* it is judged (one atomic ``SET NX EX`` + ``INCR`` in a
MULTI), so forty concurrent wrong passwords get exactly as many checks as the limit allows.
Fixed windows, shared by every web process, so scaling out does not multiply the allowance.

Sign-in is limited per (account, address) pair, so a stranger's wrong passwords lock only
the stranger out; a slower backstop per account, counted only for attempts the pair allowed,
caps a spread-out guessing run; a limit per address caps one address trying many accounts.
Two-factor codes are counted per account across sign-ins: a correct password does not
reset them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis import Redis


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


PAIR = Limit(5, 15 * 60)  # wrong passwords for one account from one address
ACCOUNT_BACKSTOP = Limit(30, 60 * 60)  # wrong passwords for one account from anywhere
ADDRESS = Limit(20, 15 * 60)  # failed attempts from one address, whatever the account
TOTP_CODES = Limit(5, 15 * 60)  # wrong two-factor codes per account, across sign-ins
NUMBER_SEARCH_LIMIT = Limit(30, 15 * 60)  # searches by number per coordinator
WINDOW_SECONDS = PAIR.seconds
ACCOUNT_LIMIT = PAIR.count  # kept for readers of the old name
IP_LIMIT = ADDRESS.count


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"handsup:throttle:{kind}:{digest}"


@dataclass(frozen=True)
class Throttle:
    redis: Redis

    def hit(self, kind: str, value: str, limit: Limit) -> int | None:
        """Count one attempt; seconds to wait when it is over the limit, else None."""
        key = _key(kind, value)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key, 0, ex=limit.seconds, nx=True)  # the window starts at the first attempt
        pipe.incr(key)  # keeps the key's expiry
        pipe.ttl(key)
        _created, count, ttl = pipe.execute()
        if int(count) <= limit.count:
            return None
        return int(ttl) if int(ttl) > 0 else limit.seconds

    def undo(self, kind: str, value: str) -> None:
        """Give back one counted attempt (it succeeded)."""
        key = _key(kind, value)
        if int(self.redis.decr(key)) < 0:
            self.redis.delete(key)

    def clear(self, kind: str, value: str) -> None:
        self.redis.delete(_key(kind, value))


@dataclass(frozen=True)
class LoginLimiter:
    redis: Redis

    @property
    def throttle(self) -> Throttle:
        return Throttle(self.redis)

    def attempt(self, email: str, ip: str) -> int | None:
        """Count a password attempt; seconds to wait when it may not be checked, else None."""
        wait = self.throttle.hit("ip", ip, ADDRESS)
        if wait is None:
            wait = self.throttle.hit("pair", f"{email}\n{ip}", PAIR)
        if wait is None:
            wait = self.throttle.hit("acct", email, ACCOUNT_BACKSTOP)
        return wait

    def succeeded(self, email: str, ip: str) -> None:
        """A right password: the pair starts afresh; this attempt is given back elsewhere."""
        self.throttle.clear("pair", f"{email}\n{ip}")
        self.throttle.undo("acct", email)
        self.throttle.undo("ip", ip)

    def code_attempt(self, coordinator_id: int, ip: str) -> int | None:
        """Count a two-factor code attempt for the account (across sign-ins) and address."""
        wait = self.throttle.hit("ip", ip, ADDRESS)
        if wait is None:
            wait = self.throttle.hit("totp", str(coordinator_id), TOTP_CODES)
        return wait

    def code_succeeded(self, coordinator_id: int, ip: str) -> None:
        self.throttle.clear("totp", str(coordinator_id))
        self.throttle.undo("ip", ip)

    def claim_totp_step(self, coordinator_id: int, step: int) -> bool:
        """True the first time a (coordinator, time step) is used: a code works only once."""
        key = f"handsup:totp-used:{coordinator_id}:{step}"
        return bool(self.redis.set(key, "1", nx=True, ex=120))
