"""A stopping worker does not hang on its command channel: RQ's pubsub thread polls four times a
second (RQ's own 60 s poll made a ``--burst`` worker sit out a minute after its last job,
since redis-py joins the thread on stop)."""

from __future__ import annotations

import time

from redis import Redis

from workers.worker import PUBSUB_POLL, HandsUpWorker


def test_the_command_channel_is_polled_often(redis: Redis) -> None:
    worker = HandsUpWorker(["default"], connection=redis)
    worker.subscribe()
    try:
        assert worker.pubsub_thread is not None
        assert worker.pubsub_thread.sleep_time == PUBSUB_POLL <= 1.0  # RQ: 60
    finally:
        worker.unsubscribe()  # type: ignore[no-untyped-call]  # rq's Worker is unannotated


def test_unsubscribing_right_after_subscribing_returns_within_seconds(redis: Redis) -> None:
    worker = HandsUpWorker(["default"], connection=redis)
    for _ in range(5):  # a burst worker subscribes and unsubscribes once per round
        worker.subscribe()
        started = time.monotonic()
        worker.unsubscribe()  # type: ignore[no-untyped-call]  # rq's Worker is unannotated
        assert time.monotonic() - started < 10 * PUBSUB_POLL  # was up to 60 s
        assert worker.pubsub_thread is not None and not worker.pubsub_thread.is_alive()
