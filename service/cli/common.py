"""Shared by the command groups: settings, a unit of work, the outbox kick, HH:MM parsing.

User errors raised in ``database()`` become one-line exits. May import ``service`` (never
``workers``) and click.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from service.communities.accounts import AccountError
from service.communities.registry import CommunityError
from service.config import ConfigError, Settings
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
)


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def database(settings: Settings | None = None) -> Iterator[Session]:
    """A unit of work on the configured database; user errors become one-line exits."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            yield session
    except USER_ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()


def parse_clock(option: str, raw: str) -> int:
    """``21:00`` → minutes after midnight."""
    try:
        hours, minutes = (int(part) for part in raw.strip().split(":"))
    except ValueError:
        raise click.ClickException(f"{option} {raw!r} is not HH:MM") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise click.ClickException(f"{option} {raw!r} is not a time of day")
    return hours * 60 + minutes
