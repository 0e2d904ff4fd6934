"""community clock and default language

Two community settings for the texts volunteers get: ``clock`` ("12h" or "24h"; NULL writes
times as the community's country does) and ``default_language`` (the language a new number
is answered in when its first text does not tell; "en" for every existing community).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.add_column(sa.Column("clock", sa.String(length=3), nullable=True))
        batch.add_column(
            sa.Column("default_language", sa.String(length=8), server_default="en", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.drop_column("default_language")
        batch.drop_column("clock")
