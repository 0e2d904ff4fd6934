"""Gunicorn settings for the Procfile's ``web`` process (gunicorn reads this file from the
working directory). Command-line flags in the Procfile still win.

Workers: ``WEB_CONCURRENCY`` when the platform sets it (Heroku does, by dyno size), else 2,
which on a 2-core machine lets one worker run Python while the other waits on PostgreSQL
(``bench/webhook_load.py`` measures it). Each sync worker peaks around 80 MB.
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
