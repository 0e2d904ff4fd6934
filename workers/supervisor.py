"""The ``handsup dev`` supervisor: embedded Redis, gunicorn and a worker as child processes.

It also migrates and seeds the demo first, and stops every child on Ctrl-C or SIGTERM.
May import ``service`` and the standard library.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from service import migrate
from service.communities.demo import DemoLogin, seed_demo
from service.config import Settings
from service.db import make_engine, make_session_factory, unit_of_work
from service.redis_conn import EmbeddedRedis, announce, free_port, withdraw

POLL_INTERVAL = 0.5  # seconds between checks that every child is still running
STOP_TIMEOUT = 10  # seconds a child gets to exit after SIGTERM before it is killed


def run_dev(settings: Settings, port: int) -> bool:
    """Run web and worker until Ctrl-C or SIGTERM (True) or until a child exits (False)."""
    migrate.upgrade(settings.database_url)
    login = seed(settings)
    embedded: EmbeddedRedis | None = None
    env = dict(os.environ)
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.instance_path / "redis", port=free_port())
        env["REDIS_URL"] = embedded.url
        announce(settings.instance_path, embedded.url)
    signal.signal(signal.SIGTERM, _interrupt)  # a PaaS or a terminal closing: stop cleanly
    # Ctrl-C, as the banner says, even when started from a script in the background: a shell
    # without job control starts those with SIGINT ignored, and Python then keeps it ignored.
    signal.signal(signal.SIGINT, _interrupt)
    children: list[subprocess.Popen[Any]] = []
    try:
        children = start_children(env, port)
        base = f"http://127.0.0.1:{port}"
        _say(
            f"\nHandsUp is running.\n"
            f"  Console:    {base}/console/\n"
            f"  Simulator:  {base}/simulator/?community={login.community.slug}\n"
            f"  Health:     {base}/healthz   Ready: {base}/readyz\n"
            f"  Demo login: {login.email} / {login.password}\n"
            f"  Redis:      {env.get('REDIS_URL')}\n"
            f"Press Ctrl-C to stop.\n"
        )
        while all(child.poll() is None for child in children):
            time.sleep(POLL_INTERVAL)
        return False
    except KeyboardInterrupt:
        _say("stopping...")
        return True
    finally:
        stop(children)
        if embedded is not None:
            withdraw(settings.instance_path)
            embedded.close()


def seed(settings: Settings) -> DemoLogin:
    """The demo community, coordinator and volunteers (safe to run twice)."""
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            return seed_demo(session)
    finally:
        engine.dispose()


def start_children(env: dict[str, str], port: int) -> list[subprocess.Popen[Any]]:
    web = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        # No gunicorn access log (the app logs each request once, service.logs), and no
        # boot chatter under the banner: its warnings and errors still show.
        "--log-level",
        "warning",
        "service.app:create_app()",
    ]
    worker = [sys.executable, "-m", "service.cli", "worker"]
    # Each child in its own process group: Ctrl-C reaches this supervisor alone, which stops
    # them in order with SIGTERM (``stop``). Given the terminal's SIGINT too, gunicorn's master
    # would quit at once and warn that a worker "was sent SIGQUIT" when one was still busy.
    return [subprocess.Popen(cmd, env=env, process_group=0) for cmd in (web, worker)]  # noqa: S603


def stop(children: list[subprocess.Popen[Any]], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM to every child, then kill what has not exited ``timeout`` seconds later."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(child)


def kill_group(child: subprocess.Popen[Any]) -> None:
    """Kill a child and every process it started: each child leads a process group of its own
    (``start_children``), so RQ's scheduler and the worker's lane processes go with it, not
    left running with nobody to stop them."""
    with contextlib.suppress(ProcessLookupError):  # the group is gone already
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _say(text: str) -> None:
    print(text, flush=True)  # the banner is for the person who ran make run
