"""milestones: since when sale lines are kept, so the audit asks them only of orders delivered after

Revision ID: d7e2b4c9a1f3
Revises: c5d8a3f1e2b7
Create Date: 2026-11-27 19:45:00

"""

import datetime
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "d7e2b4c9a1f3"
down_revision: Union[str, None] = "c5d8a3f1e2b7"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    milestones = op.create_table(
        "milestones",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_milestones")),
    )
    # the sale_lines table came with the revision before this one: sales are kept from now on
    op.bulk_insert(milestones, [{"name": "sale_lines_kept", "reached_at": datetime.datetime.now(datetime.UTC)}])


def downgrade() -> None:
    op.drop_table("milestones")
