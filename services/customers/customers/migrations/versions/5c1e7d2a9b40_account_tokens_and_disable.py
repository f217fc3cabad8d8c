"""accounts: token_version and disabled_at

Revision ID: 5c1e7d2a9b40
Revises: c32e0bffc206
Create Date: 2026-11-27 11:50:00.000000

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "5c1e7d2a9b40"
down_revision: Union[str, Sequence[str], None] = "c32e0bffc206"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("token_version")
