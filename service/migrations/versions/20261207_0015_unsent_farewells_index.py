"""a partial index on the farewells not yet handed to Twilio

Issue 18. A FAREWELL is the worker's answer to the text that erased its sender (FORGET
confirmed under surge); it keeps the erased number until Twilio has it. A later text from that
number (a JOIN, say) must not be answered in the request before it: the webhook asks whether
one is unsent for the sender's address. The index holds only unsent farewells, so that
question costs one probe of an index that is almost always empty.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAREWELL_UNSENT = sa.text("kind = 'farewell' AND status IN ('pending', 'sending')")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.create_index(
            "ix_messages_farewell_unsent",
            ["community_id", "to_address"],
            postgresql_where=FAREWELL_UNSENT,
            sqlite_where=FAREWELL_UNSENT,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_farewell_unsent")
