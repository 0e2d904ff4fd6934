"""The web process's gunicorn worker (``service/web/gunicorn_worker.py``): gevent's, accepting
several connections each time its listening socket wakes it, even with several workers."""

from __future__ import annotations

import runpy
from pathlib import Path

from gunicorn.workers import ggevent

from service.web.gunicorn_worker import ACCEPTS_PER_WAKE, GeventWorker, _Server

ROOT = Path(__file__).resolve().parent.parent


def test_a_server_keeps_its_accepts_per_wake_when_gunicorn_sets_one() -> None:
    server = _Server(("127.0.0.1", 0), handle=lambda *args: None)
    server.max_accept = 1  # what gunicorn's worker sets when there are several workers
    assert server.max_accept == ACCEPTS_PER_WAKE > 1


def test_the_procfiles_web_command_runs_this_worker() -> None:
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["worker_class"] == "service.web.gunicorn_worker.GeventWorker"
    assert issubclass(GeventWorker, ggevent.GeventWorker)
