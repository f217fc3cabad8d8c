"""customers' last password change, for the sign-in anomaly rule

Revision ID: 4c8e1a7d2b90
Revises: 9b4d2c6e1f37
Create Date: 2026-11-27 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "4c8e1a7d2b90"
down_revision: str | Sequence[str] | None = "9b4d2c6e1f37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer_profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer_profiles", schema=None) as batch_op:
        batch_op.drop_column("password_changed_at")
