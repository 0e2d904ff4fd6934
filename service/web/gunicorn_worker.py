"""The web process's gunicorn worker class (``gunicorn.conf.py``): gunicorn's gevent worker,
accepting up to ``ACCEPTS_PER_WAKE`` connections each time its listening socket wakes it.
Imports gunicorn and gevent only; loaded by gunicorn in each worker process.

gunicorn's gevent worker lets a worker accept ONE connection per wake when there are several
workers (``server.max_accept = 1``, so that the first worker woken does not take a whole
burst from the others). A wake is one turn of the worker's event loop, and under a surge a
turn runs every greenlet that is ready: hundreds of acknowledgements. Each worker then
accepted far fewer connections a second than came (Twilio, or a PaaS router, opens one per
webhook), and the texts waited in the kernel's accept queue before any HandsUp code saw them:
``bench.surge`` (2026-12-06) found 100-500 connections queued on the listening socket for
seconds at a time, and each text's wait there was nearly all of its answer's latency (the
view took 9 ms at the median, 30-40 ms at the 99th percentile). A few connections per wake
keep the workers balanced (each takes a share of what is queued) and accept as fast as texts
come.

Once a worker has loaded the app, it moves every object then alive out of the cyclic garbage
collector's sight (``gc.freeze``): the modules, the models' metadata, phonenumbers' tables and
the catalogs live as long as the process, and each full collection scanned them all again, the
whole worker paused meanwhile (about 150,000 objects, 64-200 ms a pass, two to four passes a
worker in a 30 s ``bench.surge``). Collections then scan what requests create.
"""

from __future__ import annotations

import gc

from gevent.server import StreamServer
from gunicorn.workers import ggevent

ACCEPTS_PER_WAKE = 16  # connections a worker accepts each time its listening socket wakes it


class _Server(StreamServer):  # gevent's classes are untyped (pyproject.toml)
    """gevent's ``StreamServer`` that keeps ``ACCEPTS_PER_WAKE`` whatever gunicorn sets."""

    @property
    def max_accept(self) -> int:
        return ACCEPTS_PER_WAKE

    @max_accept.setter
    def max_accept(self, value: int) -> None:
        """gunicorn sets 1 when it runs several workers: ignored (see the module's text)."""


class GeventWorker(ggevent.GeventWorker):
    """gunicorn's gevent worker whose servers accept ``ACCEPTS_PER_WAKE`` at each wake."""

    def run(self) -> None:
        ggevent.StreamServer = _Server  # this worker process's servers (run() builds them)
        gc.freeze()  # the app is loaded (see the module's text)
        super().run()
