"""Per-sender pacing: token buckets in Redis shared by every worker, and the default rates."""

from __future__ import annotations

import pytest
from redis import Redis

from service.models.community import ChannelKind
from service.redis_conn import connect
from service.sending.pacing import Grant, Rate, TokenBuckets, default_rate, sender_key

TEN = Rate(per_second=10, burst=10)
ONE = Rate(per_second=1, burst=1)


def test_a_full_bucket_grants_its_burst_then_refuses(redis: Redis) -> None:
    buckets = TokenBuckets(redis)
    assert buckets.take("sms:+12025550100", TEN, 10, now=1000.0) == Grant(10, 0.0)
    refused = buckets.take("sms:+12025550100", TEN, 1, now=1000.0)
    assert refused.granted == 0
    assert refused.retry_after == pytest.approx(0.1)


def test_asking_for_more_than_is_held_grants_what_is_held(redis: Redis) -> None:
    buckets = TokenBuckets(redis)
    grant = buckets.take("k", TEN, 25, now=1000.0)
    assert grant.granted == 10
    assert grant.retry_after == pytest.approx(0.1)


def test_tokens_refill_continuously_and_only_whole_ones_are_granted(redis: Redis) -> None:
    buckets = TokenBuckets(redis)
    assert buckets.take("k", TEN, 10, now=1000.0).granted == 10
    grant = buckets.take("k", TEN, 10, now=1000.35)
    assert grant.granted == 3
    # half a token is left over: the next one comes 0.05 s later
    assert grant.retry_after == pytest.approx(0.05)
    assert buckets.take("k", TEN, 10, now=1000.40).granted == 1


def test_refill_stops_at_the_burst(redis: Redis) -> None:
    buckets = TokenBuckets(redis)
    assert buckets.take("k", TEN, 10, now=1000.0).granted == 10
    assert buckets.take("k", TEN, 100, now=5000.0).granted == 10


def test_two_workers_share_one_bucket(redis: Redis, redis_url: str) -> None:
    other_connection = connect(redis_url)
    try:
        first = TokenBuckets(redis)
        second = TokenBuckets(other_connection)
        assert first.take("sms:+12025550100", TEN, 6, now=1000.0).granted == 6
        assert second.take("sms:+12025550100", TEN, 6, now=1000.0).granted == 4
        assert first.take("sms:+12025550100", TEN, 1, now=1000.0).granted == 0
        assert second.take("sms:+12025550100", TEN, 5, now=1000.2).granted == 2
    finally:
        other_connection.close()


def test_separate_keys_are_independent(redis: Redis) -> None:
    buckets = TokenBuckets(redis)
    assert buckets.take("sms:+12025550100", TEN, 10, now=1000.0).granted == 10
    assert buckets.take("sms:+12025550101", TEN, 10, now=1000.0).granted == 10
    assert buckets.take("sms:+12025550100", TEN, 1, now=1000.0).granted == 0


def test_the_prefix_namespaces_the_buckets(redis: Redis) -> None:
    assert TokenBuckets(redis, prefix="a:").take("k", ONE, 1, now=1000.0).granted == 1
    assert TokenBuckets(redis, prefix="b:").take("k", ONE, 1, now=1000.0).granted == 1
    assert redis.exists("a:k") and redis.exists("b:k")


def test_idle_buckets_expire(redis: Redis) -> None:
    TokenBuckets(redis).take("k", TEN, 1, now=1000.0)
    ttl = redis.pttl("handsup:pace:k")
    assert 59_000 < ttl <= 60_000


def test_a_disabled_bucket_grants_everything_without_redis(redis: Redis) -> None:
    buckets = TokenBuckets(redis, enabled=False)
    for _ in range(3):
        assert buckets.take("k", ONE, 1000, now=1000.0) == Grant(1000, 0.0)
    assert buckets.take("k", ONE, 5) == Grant(5, 0.0)
    assert redis.dbsize() == 0


def test_wanting_nothing_grants_nothing_without_redis(redis: Redis) -> None:
    buckets = TokenBuckets(redis)
    assert buckets.take("k", TEN, 0, now=1000.0) == Grant(0, 0.0)
    assert buckets.take("k", TEN, -3) == Grant(0, 0.0)
    assert redis.dbsize() == 0


def test_the_server_clock_grants_the_burst_then_refuses(redis: Redis) -> None:
    buckets = TokenBuckets(redis)
    slow = Rate(per_second=0.5, burst=5)  # a token per 2 s: none refills during the test
    assert buckets.take("k", slow, 5) == Grant(5, 0.0)
    refused = buckets.take("k", slow, 1)
    assert refused.granted == 0
    assert 0 < refused.retry_after <= 2.0


def test_the_long_run_rate_holds(redis: Redis) -> None:
    buckets = TokenBuckets(redis)
    granted = sum(buckets.take("k", ONE, 5, now=1000.0 + step / 10).granted for step in range(101))
    assert granted in (10, 11)  # the burst of 1 plus 10 s of refill at 1/s


@pytest.mark.parametrize(
    ("kind", "address", "per_second"),
    [
        (ChannelKind.SMS, "+12025550100", 1),  # US long code
        (ChannelKind.SMS, "+18005550100", 3),  # US toll-free
        (ChannelKind.SMS, "+14165550100", 1),  # Toronto long code
        (ChannelKind.SMS, "+447700900123", 10),  # UK mobile
        (ChannelKind.SMS, "12345", 100),  # short code
        (ChannelKind.WHATSAPP, "+12025550100", 10),
        (ChannelKind.SMS, "not a number", 10),
        (ChannelKind.SMS, "MG" + "0" * 32, 10),
    ],
)
def test_default_rates(kind: ChannelKind, address: str, per_second: int) -> None:
    assert default_rate(kind, address) == Rate(per_second, per_second)


def test_the_simulator_is_fast() -> None:
    assert default_rate(ChannelKind.SIMULATOR, "+12025550100").per_second >= 1000


def test_an_override_replaces_the_default() -> None:
    assert default_rate(ChannelKind.SMS, "+12025550100", override=25) == Rate(25, 25)
    assert default_rate(ChannelKind.SMS, "+12025550100", override=0.5) == Rate(0.5, 1)
    with pytest.raises(ValueError):
        default_rate(ChannelKind.SMS, "+12025550100", override=0)


@pytest.mark.parametrize(
    ("per_second", "burst"), [(0, 1), (-1, 1), (float("nan"), 1), (float("inf"), 1), (1, 0)]
)
def test_invalid_rates_are_refused(per_second: float, burst: int) -> None:
    with pytest.raises(ValueError):
        Rate(per_second, burst)


def test_sender_keys() -> None:
    assert sender_key(ChannelKind.SMS, "+12025550100") == "sms:+12025550100"
    assert sender_key(ChannelKind.WHATSAPP, "+12025550199") == "whatsapp:+12025550199"
    assert sender_key(ChannelKind.WHATSAPP, "whatsapp:+12025550199") == "whatsapp:+12025550199"
    assert sender_key(ChannelKind.SMS, "12345") == "sms:12345"
    assert sender_key(ChannelKind.SMS, "MG" + "a" * 32) == "mg:MG" + "a" * 32
