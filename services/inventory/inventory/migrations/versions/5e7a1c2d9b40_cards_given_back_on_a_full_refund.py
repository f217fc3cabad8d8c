"""cards given back on a full refund: refunded state, refunded_at on cards and orders

Revision ID: 5e7a1c2d9b40
Revises: 5e0b7d2c9a41
Create Date: 2026-11-27 14:55:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '5e7a1c2d9b40'
down_revision: Union[str, Sequence[str], None] = '5e0b7d2c9a41'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

CARD_STATUS = (
    "(status = 'available' AND order_id IS NULL AND sold_at IS NULL AND refunded_at IS NULL)"
    " OR (status = 'reserved' AND order_id IS NOT NULL AND sold_at IS NULL AND refunded_at IS NULL)"
    " OR (status = 'sold' AND order_id IS NOT NULL AND sold_at IS NOT NULL AND refunded_at IS NULL)"
    " OR (status = 'refunded' AND order_id IS NOT NULL AND sold_at IS NOT NULL AND refunded_at IS NOT NULL)"
    " OR (status = 'void' AND voided_at IS NOT NULL"
    " AND ((order_id IS NULL AND sold_at IS NULL AND refunded_at IS NULL)"
    " OR (order_id IS NOT NULL AND sold_at IS NOT NULL AND refunded_at IS NOT NULL)))"
)
PREVIOUS_CARD_STATUS = (
    "(status = 'available' AND order_id IS NULL AND sold_at IS NULL)"
    " OR (status = 'reserved' AND order_id IS NOT NULL AND sold_at IS NULL)"
    " OR (status = 'sold' AND order_id IS NOT NULL AND sold_at IS NOT NULL)"
    " OR (status = 'void' AND order_id IS NULL AND sold_at IS NULL AND voided_at IS NOT NULL)"
)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('ck_cards_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_cards_status'), CARD_STATUS)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema: a refunded card is sold again, a voided one keeps its order no more."""
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('refunded_at')

    op.execute("UPDATE cards SET status = 'sold', refunded_at = NULL WHERE status = 'refunded'")
    op.execute(
        "UPDATE cards SET order_id = NULL, sold_at = NULL, reserved_at = NULL, refunded_at = NULL"
        " WHERE status = 'void' AND order_id IS NOT NULL"
    )
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_cards_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_cards_status'), PREVIOUS_CARD_STATUS)
        batch_op.drop_column('refunded_at')
