"""every sum received per payment, so a payment received twice is refunded

Revision ID: 52598a8ea08a
Revises: e76bf23b7880
Create Date: 2026-11-22 01:16:54.641557

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '52598a8ea08a'
down_revision: Union[str, Sequence[str], None] = 'e76bf23b7880'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('order_receipts',
    sa.Column('payment_id', sa.String(length=64), nullable=False),
    sa.Column('trade_no', sa.String(length=128), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_receipts_order_id_orders')),
    sa.PrimaryKeyConstraint('payment_id', 'trade_no', name=op.f('pk_order_receipts'))
    )
    with op.batch_alter_table('order_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_receipts_order_id'), ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('order_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_receipts_order_id'))

    op.drop_table('order_receipts')
