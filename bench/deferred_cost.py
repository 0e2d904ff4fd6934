"""What a deferred text costs against one answered in the request (issue 18): the same texts,
stepped in this process, once each way, without HTTP and without the REST send.

A surge is drained by a worker, so a deferred text must cost no more than a synchronous one
for the backlog to clear in about the time the web would have taken (``bench.surge``'s
1.25 x texts / C). This isolates the step: it seeds ``bench.surge``'s community (volunteers
asked by an open call-out, three open shifts for the menu), with the destination cache on as
in production (never expiring during the run), then, from two pools of ``--volunteers``
fresh numbers:

1. **synchronous** (the baseline): each text through ``handle_inbound`` as the webhook runs it
   (store, lock, step, TwiML replies stored), ``YES`` then ``SHIFTS`` from every volunteer;
2. **deferred**: the same texts from the other pool stored under surge (through a
   ``DeferredIntake``, untimed), then answered by ``deferred.answer_in_order`` as one lane
   process does (the sender's lock, the claim, the step, replies queued through the
   send gate).

The first 50 texts of each pass warm the process up and are not counted. Prints CPU and wall
ms per text and SQL statements per text for each, and the ratio deferred / synchronous.

Run: ``.venv/bin/python -m bench.deferred_cost [--volunteers 1000] [--database-url URL]``
(default: BENCH_DATABASE_URL, else the ``handsup_deferred_cost`` database on the local server,
emptied and migrated). Takes under a minute.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bench.broadcast import COMMUNITY_NUMBER, prepare_database
from bench.console import statement_counter
from bench.surge import Pools, seed
from bench.webhook_load import check_urls, phones_for
from service.config import normalize_database_url
from service.conversations import deferred
from service.conversations.destinations import cache_destinations
from service.conversations.inbound import InboundMessage, WaitingText, handle_inbound
from service.conversations.intake import DeferredIntake
from service.db import make_engine, make_session_factory
from service.models import ChannelKind

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/handsup_deferred_cost"
WARMUP = 50
BODIES = ("YES", "SHIFTS")


@dataclass(frozen=True)
class Pass:
    name: str
    texts: int
    cpu_ms: float
    wall_ms: float
    statements: float

    def line(self) -> str:
        return (
            f"{self.name:<12} {self.texts} texts: {self.cpu_ms:.2f} ms CPU, "
            f"{self.wall_ms:.2f} ms wall, {self.statements:.1f} statements per text"
        )


@contextmanager
def timed(name: str, texts: int, engine: Engine, out: list[Pass]) -> Iterator[None]:
    with statement_counter(engine) as counted:
        cpu, wall = time.process_time(), time.perf_counter()
        yield
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    out.append(Pass(name, texts, cpu * 1000 / texts, wall * 1000 / texts, counted[0] / texts))


def inbound(phone: str, body: str, sid: str) -> InboundMessage:
    return InboundMessage(
        sid=sid, kind=ChannelKind.SMS, sender=phone, to=COMMUNITY_NUMBER, body=body
    )


def texts_of(phones: Sequence[str], prefix: str) -> list[InboundMessage]:
    """``YES`` from every volunteer, then ``SHIFTS`` from every volunteer."""
    return [
        inbound(phone, body, f"SM{prefix}{round_}{n:030x}")
        for round_, body in enumerate(BODIES)
        for n, phone in enumerate(phones)
    ]


def step_each(
    factory: sessionmaker[Session], texts: Sequence[InboundMessage], intake: DeferredIntake | None
) -> list[int]:
    ids = []
    for text in texts:
        with factory() as session:
            ids.append(handle_inbound(session, text, datetime.now(UTC), intake=intake).message_id)
    return ids


def measure(
    factory: sessionmaker[Session], engine: Engine, pools: Pools, community_id: int
) -> list[Pass]:
    passes: list[Pass] = []
    sync = texts_of(pools.closed, "s")
    step_each(factory, sync[:WARMUP], intake=None)
    with timed("synchronous", len(sync) - WARMUP, engine, passes):
        step_each(factory, sync[WARMUP:], intake=None)
    later = texts_of(pools.surge, "d")
    ids = step_each(factory, later, DeferredIntake(engine))
    waiting = [
        WaitingText(message_id, community_id, text.sender)
        for message_id, text in zip(ids, later, strict=True)
    ]
    deferred.answer_in_order(factory, waiting[:WARMUP])
    with timed("deferred", len(waiting) - WARMUP, engine, passes):
        answered = deferred.answer_in_order(factory, waiting[WARMUP:])
    if answered != len(waiting) - WARMUP:
        raise SystemExit(f"answered {answered} of {len(waiting) - WARMUP} deferred texts")
    return passes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volunteers", type=int, default=1000)
    parser.add_argument(
        "--database-url", help=f"default: BENCH_DATABASE_URL, {DEFAULT_DATABASE_URL}"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    url = normalize_database_url(
        args.database_url or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    check_urls(url, "redis://127.0.0.1:6379/0")
    prepare_database(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    pools = Pools(
        surge=phones_for(args.volunteers, "303"),
        closed=phones_for(args.volunteers, "720"),
        trickle=[],
        warmup=[],
    )
    community_id = seed(factory, pools, 1000.0)
    # Kept for the whole run: a re-read every 2 s (both paths have it) would land in one pass
    # or the other by the clock, and the counts would differ by it on a busy machine.
    cache_destinations(engine, ttl=3600.0)
    sync, later = measure(factory, engine, pools, community_id)
    print(f"environment: {engine.dialect.name}, CPUs {os.cpu_count()}, one process, no HTTP")
    print(sync.line())
    print(later.line())
    print(
        f"ratio:       a deferred text costs {later.cpu_ms / sync.cpu_ms:.2f} x the CPU and "
        f"{later.statements / sync.statements:.2f} x the statements of a synchronous one"
    )
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
