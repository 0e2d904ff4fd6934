"""Run Alembic migrations programmatically (``handsup db upgrade``, the Procfile's release)."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("service") / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def script_revisions() -> set[str]:
    """Every revision this version of the code ships."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    return {script.revision for script in scripts.walk_revisions()}


def script_heads() -> set[str]:
    """The revisions ``upgrade()`` brings a database to."""
    return set(ScriptDirectory.from_config(alembic_config("")).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    """The database's revisions (empty before the first ``handsup db upgrade``)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def current_heads(database_url: str) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    from service.db import make_engine

    engine = make_engine(database_url)
    with engine.connect() as connection:
        heads = set(MigrationContext.configure(connection).get_current_heads())
    engine.dispose()
    return heads
