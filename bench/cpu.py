"""Where a benchmark's CPU went, part by part (web, worker, PostgreSQL, the fake Twilio, the load
generator), and how busy the whole machine was, from ``/proc``: the figures that say whether a
rate was bound by the CPU, and which process spent it. Imports the stdlib, SQLAlchemy and
``bench.webhook_load``'s ``/proc`` readers.

A part is a set of processes read at each snapshot (a process first seen later counts from
zero; one gone before the next snapshot loses what it spent since the last). The load
generator is this process and its reaped children (``os.times``): the forked load processes of
``bench.surge`` are reaped when their pool shuts down, within the window they ran in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.webhook_load import children, cpu_spent_ms, cpu_ticks

LOAD = "load generator"


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (a gunicorn master's workers, a worker's lanes)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children(current))
    return sorted(found)


def postgres_processes(engine: Engine) -> list[int]:
    """The server processes working for the bench database (its backends, but the asking one)
    and the server's own (WAL writer, checkpointer, autovacuum...): a commit's work is done
    in part by them."""
    with engine.connect() as connection:
        return list(
            connection.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                    "AND (datname = current_database() OR backend_type <> 'client backend')"
                )
            )
        )


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU since boot (``/proc/stat``'s first line)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is counted in user already
    return total - idle, total


@dataclass(frozen=True)
class Snapshot:
    at: float  # time.perf_counter()
    ticks: dict[str, dict[int, int]]  # per part, per process: utime + stime
    load_seconds: float  # this process and its reaped children
    machine: tuple[int, int]  # (busy, total) ticks


def snapshot(parts: Callable[[], Mapping[str, Sequence[int]]]) -> Snapshot:
    """Read every part's processes (``parts()`` lists them now) and the machine."""
    times = os.times()
    return Snapshot(
        time.perf_counter(),
        {name: cpu_ticks(pids) for name, pids in parts().items()},
        times.user + times.system + times.children_user + times.children_system,
        machine_ticks(),
    )


@dataclass(frozen=True)
class Spent:
    """CPU seconds each part spent between two snapshots, and the machine's busy share."""

    seconds: float  # wall time between the snapshots
    by_part: dict[str, float]
    busy: float  # share of all the machine's CPUs busy (0-1), whoever used them

    @property
    def total(self) -> float:
        return sum(self.by_part.values())

    def line(self, count: int) -> str:
        """Milliseconds per one of ``count`` texts, part by part, and the machine's load."""
        parts = " / ".join(f"{ms_each(v, count):.2f}" for v in self.by_part.values())
        return (
            f"{parts} = {ms_each(self.total, count):.2f} ms a text over {self.seconds:.1f} s; "
            f"machine {self.busy:.0%} busy"
        )


def joined(first: Spent, then: Spent) -> Spent:
    """Two windows one after the other as one."""
    seconds = first.seconds + then.seconds
    by_part = {
        name: first.by_part.get(name, 0.0) + then.by_part.get(name, 0.0)
        for name in {**first.by_part, **then.by_part}
    }
    busy = (first.busy * first.seconds + then.busy * then.seconds) / seconds if seconds else 0.0
    return Spent(seconds, by_part, busy)


HANDSUP = ("web", "worker", "PostgreSQL")  # the parts a deployment pays for


def handsup_ms(spent: Spent, count: int) -> float:
    """CPU ms a text of HandsUp's own processes (the fake Twilio and the load generator are
    the bench's)."""
    return ms_each(sum(spent.by_part.get(name, 0.0) for name in HANDSUP), count)


def ms_each(seconds: float, count: int) -> float:
    return seconds * 1000 / count if count else 0.0


def spent(before: Snapshot, after: Snapshot) -> Spent:
    by_part = {
        name: cpu_spent_ms(before.ticks.get(name, {}), ticks) / 1000
        for name, ticks in after.ticks.items()
    }
    by_part[LOAD] = after.load_seconds - before.load_seconds
    busy = after.machine[0] - before.machine[0]
    total = after.machine[1] - before.machine[1]
    return Spent(after.at - before.at, by_part, busy / total if total else 0.0)
