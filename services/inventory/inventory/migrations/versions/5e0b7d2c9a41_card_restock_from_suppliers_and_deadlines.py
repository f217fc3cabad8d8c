"""card restock from suppliers and per-supplier deadlines

Revision ID: 5e0b7d2c9a41
Revises: fc85a81501ad
Create Date: 2026-11-27 14:55:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '5e0b7d2c9a41'
down_revision: Union[str, Sequence[str], None] = 'fc85a81501ad'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('fulfilments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=16), server_default='top_up', nullable=False))
        batch_op.alter_column('recharge_account', existing_type=sa.String(length=128), nullable=True)
        batch_op.create_check_constraint(
            op.f('ck_fulfilments_purpose'),
            "(purpose = 'top_up' AND recharge_account IS NOT NULL) OR purpose = 'restock'",
        )
    with op.batch_alter_table('suppliers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deadline_seconds', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_suppliers_deadline_seconds'), 'deadline_seconds IS NULL OR deadline_seconds > 0'
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('suppliers', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_suppliers_deadline_seconds'), type_='check')
        batch_op.drop_column('deadline_seconds')
    op.execute("DELETE FROM fulfilments WHERE purpose = 'restock'")
    with op.batch_alter_table('fulfilments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_fulfilments_purpose'), type_='check')
        batch_op.alter_column('recharge_account', existing_type=sa.String(length=128), nullable=False)
        batch_op.drop_column('purpose')
