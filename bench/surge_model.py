"""``bench.surge``'s texts and verdicts as plain values: the open loop's schedule, what the run
saw (the webhooks posted and their HTTP answers, the inbound and reply rows, the moments the
fake Twilio received each REST send) and the issue-18 targets computed from them. Pure: the
stdlib only, so ``tests/test_bench_surge.py`` checks the verdicts with synthetic records.

Times are seconds on one clock (the bench's ``time.perf_counter``; the fake's wall-clock
moments are shifted onto it before they get here).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

SYNC = "sync"  # a 2xx TwiML answer with at least one <Message>: answered in the webhook
DEFERRED = "deferred"  # a 2xx TwiML answer with no <Message>: a worker sends the reply later
BAD = "bad"  # anything else: no answer, not 2xx, or not TwiML

P99_TARGET = 1.0  # s, HTTP answer
DRAIN_SLACK = 1.25  # the last answer within 1.25 x texts / C of the first text
RESYNC_TARGET = 10.0  # s after the surge ends, answers synchronous again


def body_for(k: int) -> str:
    """What a volunteer's k-th text of the surge says: YES (the call-out), SHIFTS (the menu),
    then MY and SHIFTS in turn. Each gets at least one reply."""
    if k < 2:
        return ("YES", "SHIFTS")[k]
    return ("MY", "SHIFTS")[k % 2]


def schedule(
    senders: Sequence[str], count: int, pair_share: float, rng: random.Random
) -> list[tuple[str, str]]:
    """``count`` (sender, body) texts in the open loop's order. Each sender texts ``count //
    len(senders)`` times, some once more; a sender's texts come singly, or with probability
    ``pair_share`` two back to back (one slot apart, so both are in flight at once). The units
    are shuffled; a sender's k-th text in the result says ``body_for(k)``."""
    order = list(senders)
    rng.shuffle(order)
    per, extra = divmod(count, len(order))
    units: list[tuple[str, int]] = []
    for index, sender in enumerate(order):
        left = per + (1 if index < extra else 0)
        while left:
            size = 2 if left >= 2 and rng.random() < pair_share else 1
            units.append((sender, size))
            left -= size
    rng.shuffle(units)
    seen: Counter[str] = Counter()
    texts = []
    for sender, size in units:
        for _ in range(size):
            texts.append((sender, body_for(seen[sender])))
            seen[sender] += 1
    return texts


# -- what the run saw --------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    """One webhook the bench posted and its HTTP answer."""

    sid: str
    sender: str
    phase: str  # "surge" or "trickle"
    scheduled: float  # when it was due: latency counts from here, queueing in the bench too
    started: float
    ended: float  # when the HTTP answer (or the error) came
    status: int  # HTTP status; 0 when no answer came (timeout, connection error)
    answer: str  # SYNC, DEFERRED or BAD
    error: str = ""

    @property
    def latency(self) -> float:
        return self.ended - self.scheduled

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Stored:
    """An inbound row: its MessageSid and id (the order the service stored texts in)."""

    sid: str
    id: int


@dataclass(frozen=True)
class Reply:
    """A reply row (kind REPLY) to the inbound text ``inbound_sid``; ``provider_sid`` is the
    SID Twilio gave its REST send (None: a TwiML reply, or not sent yet)."""

    id: int
    inbound_sid: str
    provider_sid: str | None


@dataclass(frozen=True)
class Answer:
    """When a text's answer reached the carrier: a synchronous one when its HTTP answer came;
    a deferred one when the fake Twilio received the REST send of each of its replies
    (``first`` and ``last`` of them)."""

    sync: bool
    first: float
    last: float


@dataclass(frozen=True)
class Violation:
    sender: str
    earlier: str  # MessageSid stored first
    later: str
    reason: str  # "processed" (reply rows written in the other order) or "delivered"


def answers(
    posted: Iterable[Posted], replies: Iterable[Reply], received: Mapping[str, float]
) -> dict[str, Answer]:
    """The answered texts by MessageSid. A text is answered synchronously by a 2xx TwiML
    answer with a <Message>; otherwise it is answered once it has reply rows and the fake
    Twilio received every one of them. A synchronous reply whose HTTP answer never came
    reached no one."""
    by_inbound: dict[str, list[Reply]] = defaultdict(list)
    for reply in replies:
        by_inbound[reply.inbound_sid].append(reply)
    found = {}
    for text in posted:
        if text.ok and text.answer == SYNC:
            found[text.sid] = Answer(True, text.ended, text.ended)
            continue
        rows = by_inbound.get(text.sid, [])
        sent = [r.provider_sid for r in rows if r.provider_sid is not None]
        moments = [received[sid] for sid in sent if sid in received]
        if rows and len(moments) == len(rows):
            found[text.sid] = Answer(False, min(moments), max(moments))
    return found


def storage(sids: Iterable[str], stored: Iterable[Stored]) -> tuple[list[str], list[str]]:
    """(posted MessageSids not stored, posted MessageSids stored more than once)."""
    counts = Counter(row.sid for row in stored)
    posted = list(dict.fromkeys(sids))
    return [s for s in posted if not counts[s]], [s for s in posted if counts[s] > 1]


def in_service_order(posted: Iterable[Posted], stored: Iterable[Stored]) -> dict[str, list[Posted]]:
    """Each sender's texts in the order the service stored them (inbound row id); a text not
    stored comes last, in the order it was sent. When two texts of one volunteer are in flight
    at once, the service may store the second first: its order is the one it must keep."""
    ids: dict[str, int] = {}
    for row in stored:
        ids.setdefault(row.sid, row.id)
    by_sender: dict[str, list[Posted]] = defaultdict(list)
    for text in posted:
        by_sender[text.sender].append(text)
    for texts in by_sender.values():
        texts.sort(key=lambda t: (t.sid not in ids, ids.get(t.sid, 0), t.started))
    return dict(by_sender)


def order_violations(
    posted: Iterable[Posted],
    stored: Iterable[Stored],
    replies: Iterable[Reply],
    answered: Mapping[str, Answer],
) -> list[Violation]:
    """Where one volunteer's answers do not follow the order of their texts. ``processed``:
    a later text's reply rows were written before an earlier text's (row ids come from one
    sequence, in the order processing wrote them). ``delivered``: a deferred text's last REST
    send reached the fake Twilio after the next text's first answer. A synchronous answer
    leaves with the commit of its processing, so the processing order alone orders it: the
    bench's threads read HTTP answers a few ms late, at random, under load."""
    reply_ids: dict[str, list[int]] = defaultdict(list)
    for reply in replies:
        reply_ids[reply.inbound_sid].append(reply.id)
    found = []
    for sender, texts in in_service_order(posted, stored).items():
        processed = [t for t in texts if reply_ids.get(t.sid)]
        for a, b in pairwise(processed):
            if max(reply_ids[a.sid]) > min(reply_ids[b.sid]):
                found.append(Violation(sender, a.sid, b.sid, "processed"))
        done = [t for t in texts if t.sid in answered]
        for a, b in pairwise(done):
            first, second = answered[a.sid], answered[b.sid]
            if not first.sync and first.last > second.first:
                found.append(Violation(sender, a.sid, b.sid, "delivered"))
    return found


def pairs_in_flight(posted: Iterable[Posted]) -> int:
    """How many times a volunteer's text was sent before the HTTP answer to their previous one
    came: the cases where the order is really tested."""
    by_sender: dict[str, list[Posted]] = defaultdict(list)
    for text in posted:
        by_sender[text.sender].append(text)
    count = 0
    for texts in by_sender.values():
        texts.sort(key=lambda t: t.started)
        count += sum(1 for a, b in pairwise(texts) if b.started < a.ended)
    return count


def resync_seconds(trickle: Sequence[Posted], surge_end: float) -> float | None:
    """Seconds from the surge's end until the trickle's answers are synchronous for good: the
    HTTP answer of the first trickle text after which every one is a synchronous answer. None
    when the last one is not."""
    ordered = sorted(trickle, key=lambda t: t.scheduled)
    start = len(ordered)
    while start and ordered[start - 1].ok and ordered[start - 1].answer == SYNC:
        start -= 1
    if start == len(ordered):
        return None
    return max(0.0, ordered[start].ended - surge_end)


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank percentile (as ``bench.webhook_load``'s phases), NaN when empty."""
    ranked = sorted(values)
    if not ranked:
        return float("nan")
    return ranked[min(len(ranked) - 1, max(0, round(q * len(ranked) + 0.5) - 1))]


@dataclass(frozen=True)
class Slice:
    """The surge's texts due in one stretch of ``width`` s from its first text."""

    start: float  # s after the first text was due
    texts: int
    sync: int
    p50: float
    p99: float


def timeline(surge: Sequence[Posted], width: float = 5.0) -> list[Slice]:
    """Answers and HTTP latency per ``width`` s of the surge, by when each text was due: where
    in the surge the slow answers fall (its start, when the process still answers in the
    request, or throughout)."""
    if not surge:
        return []
    first = min(t.scheduled for t in surge)
    buckets: dict[int, list[Posted]] = defaultdict(list)
    for t in surge:
        buckets[int((t.scheduled - first) // width)].append(t)
    return [
        Slice(
            start=k * width,
            texts=len(texts),
            sync=sum(1 for t in texts if t.answer == SYNC),
            p50=percentile((t.latency for t in texts), 0.50),
            p99=percentile((t.latency for t in texts), 0.99),
        )
        for k, texts in sorted(buckets.items())
    ]


# -- figures and targets -----------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    capacity: float  # C, synchronous closed-loop texts/s
    offered: float  # texts/s of the open loop
    surge_texts: int
    sent_rate: float  # texts/s the bench really sent at
    sync: int  # surge texts answered synchronously (2xx with a <Message>)
    deferred: int  # surge texts answered 2xx with an empty TwiML
    non_2xx: list[Posted]  # surge and trickle
    missing: list[str]
    duplicates: list[str]
    p50: float
    p99: float
    max_latency: float
    # Of that latency: from the request's start to its answer (the server and the network),
    # and from its moment to its start (the bench falling behind its own schedule).
    wire_p99: float
    late_p99: float
    unanswered: list[str]  # surge and trickle MessageSids
    surge_unanswered: int
    violations: list[Violation]
    in_flight: int
    drain: float | None  # last surge answer after the first surge text, s
    bound: float  # DRAIN_SLACK x surge texts / C
    resync: float | None
    trickle_texts: int

    @property
    def deferred_share(self) -> float:
        return self.deferred / self.surge_texts if self.surge_texts else 0.0


def figures(
    capacity: float,
    offered: float,
    posted: Sequence[Posted],
    all_sids: Iterable[str],
    stored: Sequence[Stored],
    replies: Sequence[Reply],
    received: Mapping[str, float],
    surge_end: float,
) -> Figures:
    """Every figure the targets need. ``posted``: the surge's and the trickle's texts;
    ``all_sids``: every MessageSid the run posted (warm-up and closed loop too)."""
    surge = [t for t in posted if t.phase == "surge"]
    trickle = [t for t in posted if t.phase == "trickle"]
    answered = answers(posted, replies, received)
    missing, duplicates = storage(all_sids, stored)
    latencies = [t.latency for t in surge]
    first = min((t.started for t in surge), default=0.0)
    last_sent = max((t.started for t in surge), default=0.0)
    surge_answers = [answered[t.sid].last for t in surge if t.sid in answered]
    return Figures(
        capacity=capacity,
        offered=offered,
        surge_texts=len(surge),
        sent_rate=(len(surge) - 1) / (last_sent - first) if last_sent > first else 0.0,
        sync=sum(1 for t in surge if t.ok and t.answer == SYNC),
        deferred=sum(1 for t in surge if t.ok and t.answer == DEFERRED),
        non_2xx=[t for t in posted if not t.ok],
        missing=missing,
        duplicates=duplicates,
        p50=percentile(latencies, 0.50),
        p99=percentile(latencies, 0.99),
        max_latency=percentile(latencies, 1.0),
        wire_p99=percentile([t.ended - t.started for t in surge], 0.99),
        late_p99=percentile([t.started - t.scheduled for t in surge], 0.99),
        unanswered=[t.sid for t in posted if t.sid not in answered],
        surge_unanswered=sum(1 for t in surge if t.sid not in answered),
        violations=order_violations(posted, stored, replies, answered),
        in_flight=pairs_in_flight(surge),
        drain=max(surge_answers) - first if surge_answers else None,
        bound=DRAIN_SLACK * len(surge) / capacity if capacity > 0 else 0.0,
        resync=resync_seconds(trickle, surge_end),
        trickle_texts=len(trickle),
    )


@dataclass(frozen=True)
class Verdict:
    target: str
    ok: bool
    detail: str


def verdicts(f: Figures) -> list[Verdict]:
    """Issue 18's surge targets, in its order."""
    drain = "no answer" if f.drain is None else f"{f.drain:.1f} s"
    if f.surge_unanswered:
        drain += f" ({f.surge_unanswered} surge texts never answered)"
    resync = "never" if f.resync is None else f"{f.resync:.1f} s"
    processed = sum(1 for v in f.violations if v.reason == "processed")
    return [
        Verdict("0 non-2xx answers", not f.non_2xx, f"{len(f.non_2xx)}"),
        Verdict(
            "every MessageSid stored exactly once",
            not f.missing and not f.duplicates,
            f"missing {len(f.missing)}, duplicates {len(f.duplicates)}",
        ),
        Verdict(f"HTTP answer p99 < {P99_TARGET:g} s", f.p99 < P99_TARGET, f"{f.p99:.3f} s"),
        Verdict(
            "every text answered, each volunteer's in order",
            not f.unanswered and not f.violations,
            f"unanswered {len(f.unanswered)}, out of order {len(f.violations)} (processed "
            f"{processed}, delivered {len(f.violations) - processed}; {f.in_flight} times a "
            "volunteer's next text went before the last was answered)",
        ),
        Verdict(
            f"last answer <= {DRAIN_SLACK:g} x texts / C after the first text",
            f.drain is not None and not f.surge_unanswered and f.drain <= f.bound,
            f"{drain}, bound {DRAIN_SLACK:g} x {f.surge_texts} / {f.capacity:.1f} = "
            f"{f.bound:.1f} s",
        ),
        Verdict(
            f"synchronous again within {RESYNC_TARGET:g} s after the surge",
            f.resync is not None and f.resync <= RESYNC_TARGET,
            resync,
        ),
    ]
