"""``handsup db``: database schema commands (the Procfile's release step).

May import ``service`` (never ``workers``) and click.
"""

from __future__ import annotations

import click
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from service import migrate
from service.config import database_url_from_env


@click.group()
def db() -> None:
    """Database schema commands.

    \b
    Example:
      handsup db upgrade
    """


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply migrations to DATABASE_URL (the Procfile's release step).

    \b
    Example:
      handsup db upgrade
    """
    url = database_url_from_env()
    try:
        migrate.upgrade(url, revision)
    except CommandError:  # alembic's own words name its internals; ours name the option
        raise click.ClickException(
            f"migration failed: --revision {revision!r} is not a revision of this version of "
            "HandsUp (use head, or an id from service/migrations/versions)"
        ) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"migration failed: cannot use the database at DATABASE_URL ({type(exc).__name__}):"
            " check that it is running and that the URL, user and password are right"
        ) from None
    click.echo(f"database at revision {revision}")


COMMANDS: tuple[click.Command, ...] = (db,)
