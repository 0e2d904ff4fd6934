"""bench.surge's verdicts on synthetic runs (``bench.surge_model``, pure: no processes): a
clean run passes every target, and each fault the bench exists to catch fails its target."""

from __future__ import annotations

import random
from collections import Counter
from itertools import count, pairwise

import pytest

from bench.surge_model import (
    BAD,
    DEFERRED,
    SYNC,
    Figures,
    Posted,
    Reply,
    Stored,
    body_for,
    figures,
    schedule,
    timeline,
    verdicts,
)

ANA, BEN = "+13035550001", "+13035550002"
TRICKLER = "+19705550001"
CAPACITY = 10.0  # texts/s: 4 surge texts give a drain bound of 1.25 x 4 / 10 = 0.5 s


class SurgeRun:
    """What a run saw, built step by step: texts posted, rows stored in the order the service
    wrote them (ids from one sequence), sends the fake Twilio received."""

    def __init__(self) -> None:
        self.posted: list[Posted] = []
        self.stored: list[Stored] = []
        self.replies: list[Reply] = []
        self.received: dict[str, float] = {}
        self.ids = count(1)

    def post(
        self,
        sid: str,
        sender: str,
        at: float,
        answer: str = SYNC,
        latency: float = 0.005,
        status: int = 200,
        phase: str = "surge",
    ) -> None:
        self.posted.append(Posted(sid, sender, phase, at, at, at + latency, status, answer))

    def store(self, sid: str) -> None:
        self.stored.append(Stored(sid, next(self.ids)))

    def reply(self, sid: str, sent_at: float | None = None) -> None:
        """A reply row; ``sent_at``: the fake received its REST send then (a deferred reply)."""
        provider = None
        if sent_at is not None:
            provider = f"SMout{len(self.received)}"
            self.received[provider] = sent_at
        self.replies.append(Reply(next(self.ids), sid, provider))

    def sync(self, sid: str, sender: str, at: float, latency: float = 0.005) -> None:
        self.post(sid, sender, at, SYNC, latency)
        self.store(sid)
        self.reply(sid)

    def deferred(self, sid: str, sender: str, at: float, sent_at: float) -> None:
        self.post(sid, sender, at, DEFERRED, latency=0.002)
        self.store(sid)
        self.reply(sid, sent_at)

    def trickle(self, at: float, answer: str = SYNC) -> None:
        sid = f"SMtrickle{at}"
        self.post(sid, TRICKLER, at, answer, phase="trickle")
        self.store(sid)
        self.reply(sid, None if answer == SYNC else at + 0.3)

    def figures(self, surge_end: float = 0.04) -> Figures:
        sids = [t.sid for t in self.posted]
        return figures(
            CAPACITY,
            3 * CAPACITY,
            self.posted,
            sids,
            self.stored,
            self.replies,
            self.received,
            surge_end,
        )

    def failing(self) -> list[str]:
        return [v.target for v in verdicts(self.figures()) if not v.ok]


def clean_surge() -> SurgeRun:
    """Ana answered in the webhook, then deferred; Ben deferred twice; the trickle is
    synchronous from its first text."""
    run = SurgeRun()
    run.sync("SMa1", ANA, 0.000)
    run.sync("SMb1", BEN, 0.001)
    run.deferred("SMa2", ANA, 0.002, sent_at=0.030)
    run.deferred("SMb2", BEN, 0.003, sent_at=0.031)
    run.trickle(0.045)
    run.trickle(0.545)
    return run


def test_a_clean_surge_passes_every_target() -> None:
    run = clean_surge()

    assert run.failing() == []
    f = run.figures()
    assert (f.sync, f.deferred, f.deferred_share) == (2, 2, 0.5)
    assert f.drain is not None and abs(f.drain - 0.031) < 1e-9
    assert f.resync is not None and abs(f.resync - 0.010) < 1e-9


def test_an_earlier_deferred_text_answered_after_a_later_synchronous_one_fails() -> None:
    run = SurgeRun()
    run.post("SMa1", ANA, 0.000, DEFERRED)
    run.store("SMa1")
    run.reply("SMa1", sent_at=0.040)  # the REST send reached Twilio at 40 ms...
    run.sync("SMa2", ANA, 0.010)  # ...after the next text's TwiML answer, at 15 ms
    run.trickle(0.045)

    assert run.failing() == ["every text answered, each volunteer's in order"]
    [violation] = run.figures().violations
    assert (violation.earlier, violation.later, violation.reason) == ("SMa1", "SMa2", "delivered")


def test_a_later_text_processed_first_fails_even_when_both_are_synchronous() -> None:
    run = SurgeRun()
    run.post("SMa1", ANA, 0.000)
    run.post("SMa2", ANA, 0.001)
    run.store("SMa1")
    run.store("SMa2")
    run.reply("SMa2")  # the second text's reply row was written first
    run.reply("SMa1")
    run.trickle(0.045)

    assert run.failing() == ["every text answered, each volunteer's in order"]
    assert [v.reason for v in run.figures().violations] == ["processed"]


def test_the_service_s_storage_order_is_the_order_it_must_keep() -> None:
    """Two texts in flight at once: the second was stored first, and answered first."""
    run = SurgeRun()
    run.post("SMa1", ANA, 0.000, latency=0.020)
    run.post("SMa2", ANA, 0.001, latency=0.010)
    run.store("SMa2")
    run.store("SMa1")
    run.reply("SMa2")
    run.reply("SMa1")
    run.trickle(0.045)

    assert run.failing() == []
    assert run.figures().in_flight == 1


def test_two_synchronous_answers_seen_in_the_other_order_by_the_bench_pass() -> None:
    """Processed in order, but the bench's threads read the HTTP answers 1 ms the other way."""
    run = SurgeRun()
    run.sync("SMa1", ANA, 0.000, latency=0.012)
    run.sync("SMa2", ANA, 0.001, latency=0.010)
    run.trickle(0.045)

    assert run.failing() == []


def test_a_synchronous_answer_read_late_by_the_bench_does_not_fail_the_next_deferred_one() -> None:
    """Processed in order; the bench's thread read the first HTTP answer after the fake had
    the second text's REST send (a busy bench, not a reordering)."""
    run = SurgeRun()
    run.sync("SMa1", ANA, 0.000, latency=0.050)
    run.deferred("SMa2", ANA, 0.001, sent_at=0.030)
    run.trickle(0.045)

    assert run.failing() == []


def test_a_duplicate_message_sid_fails() -> None:
    run = clean_surge()
    run.stored.append(Stored("SMb1", 999))

    assert run.failing() == ["every MessageSid stored exactly once"]
    assert run.figures().duplicates == ["SMb1"]


def test_a_text_never_stored_fails() -> None:
    run = clean_surge()
    run.stored = [row for row in run.stored if row.sid != "SMa1"]

    assert "every MessageSid stored exactly once" in run.failing()
    assert run.figures().missing == ["SMa1"]


def test_a_deferred_text_whose_reply_was_never_sent_is_unanswered() -> None:
    run = clean_surge()
    run.post("SMb3", BEN, 0.004, DEFERRED)
    run.store("SMb3")
    run.reply("SMb3")  # still pending: no REST send reached the fake

    assert run.failing() == [
        "every text answered, each volunteer's in order",
        "last answer <= 1.25 x texts / C after the first text",
    ]
    assert run.figures().unanswered == ["SMb3"]


def test_a_deferred_text_with_one_of_two_replies_sent_is_unanswered() -> None:
    run = clean_surge()
    run.reply("SMb2")  # a second reply row, never sent

    assert run.figures().unanswered == ["SMb2"]


def test_a_synchronous_reply_that_timed_out_reached_no_one() -> None:
    run = clean_surge()
    run.post("SMa3", ANA, 0.004, BAD, latency=15.0, status=0)
    run.store("SMa3")
    run.reply("SMa3")  # processed and REPLIED, but the TwiML never got back to Twilio

    failing = run.failing()
    assert "0 non-2xx answers" in failing
    assert "HTTP answer p99 < 1 s" in failing
    assert run.figures().unanswered == ["SMa3"]


def test_an_error_status_fails_and_a_slow_answer_fails_the_p99() -> None:
    run = clean_surge()
    run.post("SMx", ANA, 0.004, BAD, status=503)
    run.store("SMx")

    assert "0 non-2xx answers" in run.failing()

    slow = clean_surge()
    slow.sync("SMa3", ANA, 0.004, latency=1.2)
    assert slow.failing() == [
        "HTTP answer p99 < 1 s",
        "last answer <= 1.25 x texts / C after the first text",
    ]


def test_the_timeline_puts_each_text_in_the_stretch_it_was_due_in() -> None:
    run = SurgeRun()
    run.post("SMa1", ANA, 0.0, latency=0.010)
    run.post("SMb0", BEN, 1.0, latency=0.020)
    run.post("SMb1", BEN, 4.9, DEFERRED, latency=0.030)
    run.post("SMa2", ANA, 5.0, DEFERRED, latency=2.0)
    run.post("SMt1", TRICKLER, 31.0, phase="trickle")

    pieces = timeline([t for t in run.posted if t.phase == "surge"], width=5.0)

    assert [(p.start, p.texts, p.sync) for p in pieces] == [(0.0, 3, 2), (5.0, 1, 0)]
    assert (pieces[0].p50, pieces[0].p99) == pytest.approx((0.020, 0.030))
    assert pieces[1].p99 == pytest.approx(2.0)
    assert timeline([]) == []


def test_the_last_answer_after_the_bound_fails() -> None:
    run = SurgeRun()
    run.sync("SMa1", ANA, 0.0)
    run.deferred("SMb1", BEN, 0.001, sent_at=1.0)  # bound: 1.25 x 2 / 10 = 0.25 s
    run.trickle(0.045)

    assert run.failing() == ["last answer <= 1.25 x texts / C after the first text"]


def test_resync_is_when_the_trickle_turns_synchronous_for_good() -> None:
    late = SurgeRun()
    late.sync("SMa1", ANA, 0.0)
    late.trickle(0.045, DEFERRED)
    late.trickle(2.045)  # synchronous once
    late.trickle(4.045, DEFERRED)  # and deferred again
    late.trickle(6.045)
    late.trickle(12.045)

    f = late.figures()
    assert f.resync is not None and abs(f.resync - 6.010) < 1e-9
    assert late.failing() == []

    never = SurgeRun()
    never.sync("SMa1", ANA, 0.0)
    never.trickle(0.045)
    never.trickle(11.045, DEFERRED)
    assert never.figures().resync is None
    assert never.failing() == ["synchronous again within 10 s after the surge"]

    slow = SurgeRun()
    slow.sync("SMa1", ANA, 0.0)
    slow.trickle(0.045, DEFERRED)
    slow.trickle(10.545)
    assert slow.failing() == ["synchronous again within 10 s after the surge"]


def test_the_schedule_gives_each_volunteer_yes_then_shifts_and_sends_some_back_to_back() -> None:
    senders = [f"+1303555{i:04d}" for i in range(100)]
    texts = schedule(senders, 250, 0.25, random.Random(18))

    assert len(texts) == 250
    per_sender = Counter(sender for sender, _ in texts)
    assert set(per_sender.values()) == {2, 3} and set(per_sender) == set(senders)
    said: dict[str, list[str]] = {}
    for sender, body in texts:
        said.setdefault(sender, []).append(body)
    assert all(bodies == [body_for(k) for k in range(len(bodies))] for bodies in said.values())
    assert body_for(0) == "YES" and body_for(1) == "SHIFTS"
    back_to_back = sum(1 for a, b in pairwise(texts) if a[0] == b[0])
    assert back_to_back >= 20
