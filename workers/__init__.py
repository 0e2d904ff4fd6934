"""RQ jobs and the worker process. Jobs are plain functions taking ids; every one is idempotent.

May import ``service`` (models, db, config) and ``flows``; nothing imports ``workers``.
"""
