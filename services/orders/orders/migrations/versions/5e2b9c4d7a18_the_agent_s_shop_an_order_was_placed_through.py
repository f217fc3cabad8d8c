"""the agent's shop an order was placed through, and the markup it credits them

Revision ID: 5e2b9c4d7a18
Revises: d81f3b6c0a27
Create Date: 2026-11-27 15:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '5e2b9c4d7a18'
down_revision: Union[str, Sequence[str], None] = 'd81f3b6c0a27'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shop', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('shop_agent_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('shop_markup', sa.BigInteger(), server_default='0', nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('shop_markup')
        batch_op.drop_column('shop_agent_id')
        batch_op.drop_column('shop')
