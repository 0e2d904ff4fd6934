"""``handsup worker`` and ``handsup dev``: their options, and the dotted paths they run.

The worker and the dev supervisor live in ``workers``; they are reached by dotted path, so this
module may import ``service`` and click, never ``workers``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import click
from rq.utils import import_attribute

from service.cli.common import load_settings, require_schema
from service.db import make_engine

RUN_WORKER = "workers.worker.run_worker"
RUN_DEV = "workers.supervisor.run_dev"


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run until the queues are empty, then exit.")
def worker_cmd(burst: bool) -> None:
    """Run an RQ worker with the scheduler and the outbox pump.

    \b
    Example:
      handsup worker
    """
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        require_schema(engine)
    finally:
        engine.dispose()
    run: Callable[..., bool] = import_attribute(RUN_WORKER)
    run(settings, burst=burst)


@click.command("dev")
@click.option("--port", default=None, type=int, help="Web port (default: PORT or 5000).")
def dev_cmd(port: int | None) -> None:
    """Local all-in-one (make run): migrate, seed, embedded Redis, web and worker.

    \b
    Example:
      handsup dev --port 8000
    """
    os.environ.setdefault("HANDSUP_ENV", "development")
    settings = load_settings()
    run: Callable[..., bool] = import_attribute(RUN_DEV)
    if not run(settings, port or settings.port):
        raise click.ClickException("a child process exited; stopping")


COMMANDS: tuple[click.Command, ...] = (worker_cmd, dev_cmd)
