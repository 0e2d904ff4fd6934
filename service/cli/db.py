"""``handsup db``: database schema commands (the Procfile's release step).

May import ``service`` (never ``workers``) and click.
"""

from __future__ import annotations

import click

from service import migrate
from service.config import database_url_from_env


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply migrations to DATABASE_URL (the Procfile's release step)."""
    url = database_url_from_env()
    try:
        migrate.upgrade(url, revision)
    except Exception as exc:  # alembic raises many types; report one line, non-zero
        raise click.ClickException(f"migration failed: {exc}") from exc
    click.echo(f"database at revision {revision}")


COMMANDS: tuple[click.Command, ...] = (db,)
