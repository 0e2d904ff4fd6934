"""security: two-person threshold, verified coordinator emails, invitations

Issue 16. ``communities.two_person_threshold`` (NULL: a quarter of the active volunteers or
50, whichever is smaller); ``coordinators.email_verified_at`` (attested by the operator) and
``created_by_id`` (who created the account through an invitation); ``invitations`` (an
owner's invitation, accepted by the invitee while signed in; only the token's hash is kept).
Existing accounts were all made by the operator's CLI or an owner; they keep an unverified
email until the operator attests it with ``handsup create-coordinator``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.add_column(sa.Column("two_person_threshold", sa.Integer(), nullable=True))
    with op.batch_alter_table("coordinators") as batch:
        batch.add_column(sa.Column("email_verified_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_coordinators_created_by_id_coordinators",
            "coordinators",
            ["created_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column(
            "role",
            sa.Enum("owner", "coordinator", "viewer", name="role", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invited_by_id"], ["coordinators.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("invitations")
    with op.batch_alter_table("coordinators") as batch:
        batch.drop_constraint("fk_coordinators_created_by_id_coordinators", type_="foreignkey")
        batch.drop_column("created_by_id")
        batch.drop_column("email_verified_at")
    with op.batch_alter_table("communities") as batch:
        batch.drop_column("two_person_threshold")
