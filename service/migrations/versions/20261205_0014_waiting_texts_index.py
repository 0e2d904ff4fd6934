"""partial indexes on the texts waiting to be answered

Issue 18. Under surge the webhook stores texts ``received`` and a worker answers them. Two
questions are asked of those rows for every text: is an earlier text of this sender still
waiting (``inbound.waiting_before``), and which are the oldest waiting texts
(``deferred.waiting_ids``). ``ix_messages_dispatch`` (status, not_before) answered both by
reading every waiting row, so each text cost time in proportion to the backlog (bench.surge:
PostgreSQL at 85% of a CPU while the worker drained 20,000 texts). These indexes hold the
waiting rows only, so they stay as small as the backlog and answer each question directly.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("status = 'received'")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.create_index(
            "ix_messages_waiting",
            ["community_id", "from_address", "id"],
            postgresql_where=WAITING,
            sqlite_where=WAITING,
        )
        batch_op.create_index(
            "ix_messages_received", ["id"], postgresql_where=WAITING, sqlite_where=WAITING
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_received")
        batch_op.drop_index("ix_messages_waiting")
