"""Shared by the command groups: settings, a unit of work on a migrated database, passwords,
HH:MM parsing.

User errors and database failures raised in ``database()`` become one-line exits. May import
``service`` (never ``workers``) and click.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service import migrate
from service.communities.accounts import AccountError
from service.communities.registry import CommunityError
from service.config import ConfigError, Settings
from service.coordinators.phones import PhoneError
from service.db import make_engine, make_session_factory, unit_of_work
from service.rosters import donations
from service.rosters import shifts as rosters
from service.sending.broadcasts import BroadcastError
from service.volunteers.import_export import ImportFileError
from service.volunteers.phones import InvalidPhoneNumber

USER_ERRORS = (
    donations.DonationError,
    rosters.RosterError,
    ConfigError,
    CommunityError,
    AccountError,
    BroadcastError,
    ImportFileError,
    InvalidPhoneNumber,
    PhoneError,
)


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


UPGRADE_FIRST = "the database has no HandsUp tables yet: run `handsup db upgrade` first"


def unreachable(exc: SQLAlchemyError) -> click.ClickException:
    """The database could not be reached or refused us: one line, in our words."""
    return click.ClickException(
        f"cannot use the database at DATABASE_URL ({type(exc).__name__}): check that it is "
        "running and that the URL, user and password are right"
    )


def require_schema(engine: Engine) -> None:
    """A command run before ``handsup db upgrade`` (or after a deploy that skipped it) says
    so in one line, instead of failing on a missing table."""
    try:
        current = migrate.current_revisions(engine)
    except SQLAlchemyError as exc:
        raise unreachable(exc) from None
    if not current:
        raise click.ClickException(UPGRADE_FIRST)
    expected = migrate.script_heads()
    if current != expected:
        unknown = current - migrate.script_revisions()
        if unknown:
            raise click.ClickException(
                f"the database is at revision {', '.join(sorted(unknown))}, which this version "
                "of HandsUp does not know: run the newer version, or downgrade the database"
            )
        raise click.ClickException(
            f"the database is at revision {', '.join(sorted(current))}, older than this "
            f"version of HandsUp ({', '.join(sorted(expected))}): run `handsup db upgrade`"
        )


@contextmanager
def database(settings: Settings | None = None) -> Iterator[Session]:
    """A unit of work on the configured, migrated database; user errors and database
    failures become one-line exits (never a library's traceback)."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    try:
        require_schema(engine)
        with unit_of_work(make_session_factory(engine)) as session:
            yield session
    except USER_ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise unreachable(exc) from None
    finally:
        engine.dispose()


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def read_password() -> str:
    """On a terminal, asked twice without echo; piped (``< password.txt``), the first line."""
    if not stdin_is_terminal():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (at least 10 characters): ")
    if getpass.getpass("The same password again: ") != first:
        raise click.ClickException("the two passwords differ; nothing was changed")
    return first


def parse_clock(option: str, raw: str) -> int:
    """``21:00`` → minutes after midnight."""
    try:
        hours, minutes = (int(part) for part in raw.strip().split(":"))
    except ValueError:
        raise click.ClickException(f"{option} {raw!r} is not HH:MM") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise click.ClickException(f"{option} {raw!r} is not a time of day")
    return hours * 60 + minutes
