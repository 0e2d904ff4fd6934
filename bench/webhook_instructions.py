"""Instructions per inbound text, counted by callgrind: a figure machine load does not move.

Throughput on a shared two-core machine swings several-fold between runs; the number of
instructions the web process executes for the same texts does not. This seeds the community of
``bench.webhook_load`` (2,000 volunteers asked by an open call-out), then runs the storm's
texts through the Flask test client in a child process under ``valgrind --tool=callgrind``,
three times on a freshly seeded database: 0 texts, 200 first answers (pass 1: three ``YES`` to
every ``SHIFTS`` from 200 volunteers), and those plus 200 second texts from the same volunteers
(pass 2). Subtracting the runs gives instructions per text of each pass, without start-up.
PostgreSQL runs outside valgrind, so only the web process's own work is counted; the
statements it sends are counted by ``tests/test_query_bounds.py``.

Run: ``.venv/bin/python -m bench.webhook_instructions [--database-url URL] [--redis-url URL]``
(defaults: the ``handsup_instructions`` database on the local server, Redis database 8; both
are emptied). Takes 5-10 minutes. Compare two commits by running it from each worktree.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import webhook_load as wl

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/handsup_instructions"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
PASS = 200  # texts per pass
COLLECTED = re.compile(r"Collected : (\d+)")


def seed(database_url: str, redis_url: str) -> None:
    from service.config import normalize_database_url
    from service.db import make_engine, make_session_factory
    from service.redis_conn import connect

    url = normalize_database_url(database_url)
    wl.check_urls(url, redis_url)
    wl.prepare_small(url)
    connect(redis_url).flushdb()
    engine = make_engine(url)
    wl.seed_load_community(
        make_session_factory(engine), wl.COMMUNITY_NUMBER, wl.phones_for(wl.VOLUNTEERS)
    )
    wl.analyze(engine)
    engine.dispose()


def texts(count: int, database_url: str, redis_url: str) -> int:
    """Post the first ``count`` texts of [pass 1, pass 2] in this process; returns non-200s."""
    from service.app import create_app
    from service.config import Settings, normalize_database_url

    phones = wl.phones_for(wl.VOLUNTEERS)
    target = wl.Target(normalize_database_url(database_url), redis_url, wl.COMMUNITY_NUMBER, phones)
    tmp = Path(tempfile.mkdtemp(prefix="handsup-instructions-"))
    app = create_app(Settings.from_env(wl.app_env(target, "http://127.0.0.1:9", tmp, None)))
    logging.getLogger().setLevel(logging.WARNING)
    client = app.test_client()
    plan = wl.Plan(wl.COMMUNITY_NUMBER, phones, prefix="in")
    storm = plan.storm(0, PASS) + plan.storm(wl.VOLUNTEERS, PASS)  # the same 200, twice
    refused = 0
    for body, headers in storm[:count]:
        answer = client.post(
            wl.INBOUND_PATH, data=body, headers=headers, base_url=wl.PUBLIC_BASE_URL
        )
        refused += answer.status_code != 200
    shutil.rmtree(tmp, ignore_errors=True)
    return refused


def counted(count: int, args: argparse.Namespace, workdir: Path) -> int:
    """Instructions of a child process that posts ``count`` texts on a fresh database."""
    seed(args.database_url, args.redis_url)
    out = workdir / f"callgrind-{count}.out"
    child = [sys.executable, "-m", "bench.webhook_instructions", "--child", str(count)]
    child += ["--database-url", args.database_url, "--redis-url", args.redis_url]
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *child],
        capture_output=True,
        text=True,
        check=False,
    )
    found = COLLECTED.search(run.stderr)
    if run.returncode != 0 or found is None or "refused 0" not in run.stdout:
        raise SystemExit(
            f"callgrind run of {count} texts failed:\n{run.stdout}\n{run.stderr[-3000:]}"
        )
    return int(found.group(1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_instructions", description=__doc__
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(f"refused {texts(args.child, args.database_url, args.redis_url)}")
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    with tempfile.TemporaryDirectory(prefix="handsup-callgrind-") as tmp:
        none, first, both = (counted(n, args, Path(tmp)) for n in (0, PASS, 2 * PASS))
    print(f"start-up (0 texts): {none / 1e6:,.1f} M instructions")
    print(f"pass 1, first answers: {(first - none) / PASS / 1e6:.2f} M instructions per text")
    print(f"pass 2, the same volunteers again: {(both - first) / PASS / 1e6:.2f} M per text")
    return 0


if __name__ == "__main__":
    sys.exit(main())
