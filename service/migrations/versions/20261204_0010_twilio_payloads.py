"""what Twilio sends: media, locations, button payloads, carrier filtering per sender

Inbound messages keep the media Twilio stored (``media``: SID, content type), a WhatsApp
location (``location``) and the payload or list id of a tapped button (``payload``). Channels
count carrier filtering (30007) and pause bulk sends past a threshold; a volunteer's
``unreachable_code`` says the carrier does not know the number or it is a landline
(30005/30006), so nothing more is sent to it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("media", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("location", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("payload", sa.String(length=200), nullable=True))
    with op.batch_alter_table("volunteers") as batch:
        batch.add_column(sa.Column("unreachable_code", sa.Integer(), nullable=True))
    with op.batch_alter_table("channels") as batch:
        batch.add_column(
            sa.Column("filtered_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("filtered_at", service.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("bulk_paused_at", service.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("bulk_paused_at")
        batch.drop_column("filtered_at")
        batch.drop_column("filtered_count")
    with op.batch_alter_table("volunteers") as batch:
        batch.drop_column("unreachable_code")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("payload")
        batch.drop_column("location")
        batch.drop_column("media")
