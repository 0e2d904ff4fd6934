"""Gunicorn settings for the Procfile's ``web`` process (gunicorn reads this file from the
working directory). Command-line flags in the Procfile still win.

Worker class: ``gevent``. A sync worker serves one connection at a time, from its first byte
to its last, so a few clients that send one header line every two seconds held both sync
workers and stopped ``/healthz`` and the Twilio webhooks for half a minute (issue 16,
finding 4). ``gthread`` does not close it either: once a request's first bytes arrive, a
thread blocks reading the rest of its headers, so as many slow clients as threads stall it.
Under gevent each connection is a greenlet that waits in the event loop, so slow clients
cost a little memory each (``worker_connections`` caps them per worker), never a worker.
psycopg 3 detects gevent's monkey-patching and waits cooperatively on PostgreSQL, and
redis-py uses the patched sockets. ``tests/test_slow_clients.py`` holds the property: with 50
slow-header connections open, ``/healthz`` and a signed webhook answer within a second.

The class is gevent's worker from ``service/web/gunicorn_worker.py``: gunicorn's, except that
each worker accepts up to 16 connections at a time instead of one, which under a surge was
what held texts back (see that module).

Workers: ``WEB_CONCURRENCY`` when the platform sets it (Heroku does, by dyno size), else 2,
which on a 2-core machine lets one worker run Python while the other waits on PostgreSQL
(``bench/webhook_load.py`` measures it).
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "service.web.gunicorn_worker.GeventWorker"  # gevent, accepting faster
worker_connections = 1000  # open connections per worker, slow ones included
