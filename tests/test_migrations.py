"""The Alembic migrations create exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import service.models  # noqa: F401 - registers the tables
from service.db import Base
from service.migrate import current_heads


def test_upgrade_head_matches_the_models(engine: Engine, database_url: str) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
    assert current_heads(database_url) == {"0015"}
