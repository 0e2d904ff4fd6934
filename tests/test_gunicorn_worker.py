"""The web process's gunicorn worker (``service/web/gunicorn_worker.py``): gevent's, accepting
several connections each time its listening socket wakes it, even with several workers, and
keeping what the loaded app holds out of the garbage collector's full passes."""

from __future__ import annotations

import gc
import runpy
from pathlib import Path

import pytest
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


def test_a_worker_freezes_what_the_loaded_app_holds_before_it_serves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gunicorn calls ``run`` once the worker has loaded the app; by the time gevent's loop
    serves, the objects then alive are out of the collector's sight."""
    frozen_when_serving: list[int] = []
    monkeypatch.setattr(ggevent, "StreamServer", ggevent.StreamServer)  # run() replaces it
    monkeypatch.setattr(
        ggevent.GeventWorker, "run", lambda self: frozen_when_serving.append(gc.get_freeze_count())
    )
    worker = GeventWorker.__new__(GeventWorker)  # no arbiter: only run() is called
    try:
        worker.run()
    finally:
        gc.unfreeze()
    assert len(frozen_when_serving) == 1 and frozen_when_serving[0] > 1_000
