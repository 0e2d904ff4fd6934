"""interactive WhatsApp messages: content templates per community and language

Issue 15, item 4. ``whatsapp_contents``: the Content API templates ``handsup
whatsapp-templates sync`` created for a community (one per language and purpose: a list-picker
of 1 to 10 items, YES / NO quick replies), by SID. ``messages.interactive``: an outbound text
as something to tap (a list of shifts or needs, YES / NO buttons), sent as a content template
inside the WhatsApp 24-hour window.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_contents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("content_sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=120), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("community_id", "language", "purpose"),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("interactive", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("interactive")
    op.drop_table("whatsapp_contents")
