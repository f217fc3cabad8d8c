"""where the buyer ordered from, kept on the order for risk

Revision ID: d81f3b6c0a27
Revises: 1b1188e7b7c4
Create Date: 2026-11-27 12:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'd81f3b6c0a27'
down_revision: Union[str, Sequence[str], None] = '1b1188e7b7c4'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_ip', sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column('device_id', sa.String(length=128), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('device_id')
        batch_op.drop_column('client_ip')
