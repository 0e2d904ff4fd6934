"""message foreign key indexes

Indexes on the message columns that point at other rows (retry_of_id, callout_id,
channel_id): without them PostgreSQL scans every message to check the foreign key each time
a message, call-out or channel is deleted. Built CONCURRENTLY on PostgreSQL, so a release
on a large database does not block the webhooks while it runs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:58:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_messages_retry_of", "retry_of_id"),
    ("ix_messages_callout", "callout_id"),
    ("ix_messages_channel", "channel_id"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            for name, column in INDEXES:
                op.create_index(
                    name,
                    "messages",
                    [column],
                    postgresql_concurrently=True,
                    if_not_exists=True,
                )
    else:
        for name, column in INDEXES:
            op.create_index(name, "messages", [column])


def downgrade() -> None:
    for name, _column in INDEXES:
        op.drop_index(name, table_name="messages")
