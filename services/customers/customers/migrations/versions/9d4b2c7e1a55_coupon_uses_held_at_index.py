"""coupon uses: an index on (status, held_at) for the sweep of orphaned holds

Revision ID: 9d4b2c7e1a55
Revises: 668686358546
Create Date: 2026-11-27 19:10:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = "9d4b2c7e1a55"
down_revision: Union[str, Sequence[str], None] = "668686358546"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index("ix_coupon_uses_status_held_at", "coupon_uses", ["status", "held_at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_coupon_uses_status_held_at", table_name="coupon_uses")
