"""Per-sender pacing shared by every worker process: a token bucket per sending number held in
Redis, the carriers' default sending rates, and which bucket a sender paces on. Imports only
redis, phonenumbers, the stdlib and ``service.models.community.ChannelKind``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType
from redis import Redis

from service.models.community import ChannelKind

# Messages per second per sender (carrier rules).
NANP_LONG_CODE_RATE = 1.0  # US/CA 10-digit long code
NANP_TOLL_FREE_RATE = 3.0  # US/CA toll-free
OTHER_COUNTRY_RATE = 10.0  # numbers outside the NANP (and addresses we cannot parse)
SHORT_CODE_RATE = 100.0
WHATSAPP_RATE = 10.0
SIMULATOR_RATE = 1000.0

MIN_IDLE_TTL_MS = 60_000  # an idle bucket vanishes after at least this long

_SHORT_CODE = re.compile(r"\d{4,6}")
_WHATSAPP_PREFIX = "whatsapp:"


@dataclass(frozen=True)
class Rate:
    """A sending rate: ``per_second`` tokens refilled continuously, at most ``burst`` held."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.per_second) and self.per_second > 0):
            raise ValueError(f"per_second must be a finite number > 0, not {self.per_second!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"burst must be an integer >= 1, not {self.burst!r}")


@dataclass(frozen=True)
class Grant:
    """``granted`` whole tokens; ``retry_after`` seconds until the next token when fewer were
    granted than asked for (0.0 when all were granted)."""

    granted: int
    retry_after: float


def _strip(address: str) -> str:
    address = address.strip()
    if address.startswith(_WHATSAPP_PREFIX):
        address = address[len(_WHATSAPP_PREFIX) :]
    return address


def _rate(per_second: float) -> Rate:
    return Rate(per_second=per_second, burst=max(1, math.ceil(per_second)))


def _sms_rate(address: str) -> float:
    if _SHORT_CODE.fullmatch(address):
        return SHORT_CODE_RATE
    try:
        number = phonenumbers.parse(address, None)
    except NumberParseException:
        return OTHER_COUNTRY_RATE
    if number.country_code != 1:
        return OTHER_COUNTRY_RATE
    if phonenumbers.number_type(number) == PhoneNumberType.TOLL_FREE:
        return NANP_TOLL_FREE_RATE
    return NANP_LONG_CODE_RATE


def default_rate(kind: ChannelKind, address: str, override: float | None = None) -> Rate:
    """The sending rate for one sender: ``override`` (messages per second, > 0) when given,
    else the carrier default for ``kind`` and ``address`` (E.164 or a 4-6 digit short code).

    An address that does not parse as a phone number (a Messaging Service SID, say) gets the
    other-country rate. The burst is one second's worth of messages.
    """
    if override is not None:
        return _rate(override)
    if kind is ChannelKind.SIMULATOR:
        return _rate(SIMULATOR_RATE)
    if kind is ChannelKind.WHATSAPP:
        return _rate(WHATSAPP_RATE)
    return _rate(_sms_rate(_strip(address)))


def sender_key(kind: ChannelKind, address: str) -> str:
    """A stable Redis key suffix per sender: ``sms:+12025550100``, ``whatsapp:+1...``,
    ``simulator:...``, and ``mg:MG...`` for a Messaging Service SID (whatever the kind)."""
    address = _strip(address)
    if address.startswith("MG"):
        return f"mg:{address}"
    return f"{kind.value}:{address}"


@dataclass(frozen=True)
class Bucket:
    """The token bucket one sender paces on: its key (``sender_key``) and its rate."""

    key: str
    rate: Rate


def bucket_for(
    kind: ChannelKind,
    address: str,
    *,
    rate_override: float | None = None,
    messaging_service_sid: str | None = None,
) -> Bucket:
    """The bucket a send from the channel ``kind``/``address`` takes its token from. SMS sent
    through a Messaging Service paces as one sender (the service's key), at the channel's rate.
    """
    keyed = messaging_service_sid if messaging_service_sid and kind is ChannelKind.SMS else address
    return Bucket(sender_key(kind, keyed), default_rate(kind, address, rate_override))


# KEYS[1] bucket; ARGV: per_second, burst, wanted, now (seconds, "" = the server's clock),
# idle ttl in ms. Returns {granted, retry_after as a string} (Lua numbers lose fractions).
# The 1e-9 of slack lets ten 0.1 s refills at 1/s count as one whole token.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[4])
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local granted = math.min(wanted, math.floor(tokens + 1e-9))
tokens = math.max(0, tokens - granted)
local retry = 0
if granted < wanted then
  retry = math.max(0, 1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'ts', string.format('%.17g', ts))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {granted, string.format('%.17g', retry)}
"""


class TokenBuckets:
    """Token buckets in Redis under ``prefix``; one atomic round trip per ``take``.

    With ``enabled=False`` every request is granted in full without touching Redis.
    ``time_source`` (seconds) replaces the Redis server's clock, for simulated time in tests.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "handsup:pace:",
        enabled: bool = True,
        time_source: Callable[[], float] | None = None,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.enabled = enabled
        self.time_source = time_source
        self._take = redis.register_script(_TAKE)

    def take(self, key: str, rate: Rate, wanted: int, now: float | None = None) -> Grant:
        """Take up to ``wanted`` whole tokens from bucket ``key`` (capacity ``rate.burst``,
        refilled at ``rate.per_second``). ``now`` (seconds) is for tests; by default the Redis
        server's clock is used so every process agrees."""
        if wanted <= 0:
            return Grant(0, 0.0)
        if not self.enabled:
            return Grant(wanted, 0.0)
        if now is None and self.time_source is not None:
            now = self.time_source()
        ttl_ms = max(MIN_IDLE_TTL_MS, math.ceil(3 * rate.burst / rate.per_second * 1000))
        args: list[str | int] = [
            repr(float(rate.per_second)),
            rate.burst,
            wanted,
            "" if now is None else repr(float(now)),
            ttl_ms,
        ]
        reply: Any = self._take(keys=[self.prefix + key], args=args)
        granted, retry_after = reply
        return Grant(int(granted), float(retry_after))

    def take_from(self, bucket: Bucket, wanted: int = 1) -> Grant:
        """``take`` from a sender's ``bucket``."""
        return self.take(bucket.key, bucket.rate, wanted)
