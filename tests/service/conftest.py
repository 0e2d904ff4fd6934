"""Fixtures for service tests: ``cli`` runs ``handsup`` in-process against the test stores;
``channel`` is the community's SMS number."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.cli import main
from service.config import Settings
from service.models import Channel, ChannelKind, Community
from tests.conftest import COMMUNITY_NUMBER

Cli = Callable[..., Result]


@pytest.fixture
def cli(settings: Settings, database_url: str, redis_url: str, db: Session) -> Cli:
    """Run ``handsup ARGS`` against the test database and Redis (tables emptied by settings).

    The test's ``db`` session is committed first: on SQLite every transaction takes the write
    lock (BEGIN IMMEDIATE), so an open read in the test would block the command.
    """
    runner = CliRunner()
    env: dict[str, str | None] = {
        "HANDSUP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HANDSUP_INSTANCE_PATH": str(settings.instance_path),
        "SECRET_KEY": None,
        "TWILIO_ACCOUNT_SID": None,
        "TWILIO_AUTH_TOKEN": None,
        "PORT": None,
    }

    def run(*args: str, input: str | None = None) -> Result:
        db.commit()
        return runner.invoke(main, list(args), input=input, env=env)

    return run


def one_line_error(result: Result) -> str:
    """Assert a clean failure (no traceback, one line on stderr) and return that line."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def channel(db: Session, community: Community) -> Channel:
    """The community's SMS number."""
    found = select(Channel).where(
        Channel.kind == ChannelKind.SMS, Channel.address == COMMUNITY_NUMBER
    )
    return db.scalars(found).one()
