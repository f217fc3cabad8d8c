"""reservations asked before the order is stored: orders.reserve_asked_at

Revision ID: a4d2e8f6b1c3
Revises: 9b3f6e1a7c20
Create Date: 2026-11-27 22:40:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'a4d2e8f6b1c3'
down_revision: Union[str, Sequence[str], None] = '9b3f6e1a7c20'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: the reservations made before now were asked for orders already stored."""
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reserve_asked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_orders_reserve_asked_at', ['reserve_asked_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema: reservations whose order was never stored wait for an operator."""
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_reserve_asked_at')
        batch_op.drop_column('reserve_asked_at')
