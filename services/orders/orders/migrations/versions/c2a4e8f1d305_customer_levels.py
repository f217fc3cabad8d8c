"""orders' copy of each buyer's level

Revision ID: c2a4e8f1d305
Revises: f7df655db9e9
Create Date: 2026-11-27 11:50:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c2a4e8f1d305'
down_revision: Union[str, Sequence[str], None] = 'f7df655db9e9'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'customer_levels',
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('level', sa.String(length=32), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_levels')),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('customer_levels')
