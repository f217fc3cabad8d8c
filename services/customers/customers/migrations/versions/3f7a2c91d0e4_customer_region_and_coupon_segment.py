"""customers' region at registration; a coupon's segment

Revision ID: 3f7a2c91d0e4
Revises: 9d4b2c7e1a55
Create Date: 2026-11-27 19:40:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = "3f7a2c91d0e4"
down_revision: Union[str, Sequence[str], None] = "9d4b2c7e1a55"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=16), nullable=True))
    op.create_index("ix_accounts_kind_region", "accounts", ["kind", "region"], unique=False)
    with op.batch_alter_table("coupons") as batch_op:
        batch_op.add_column(sa.Column("segment", sa.String(length=40), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("coupons") as batch_op:
        batch_op.drop_column("segment")
    op.drop_index("ix_accounts_kind_region", table_name="accounts")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("region")
