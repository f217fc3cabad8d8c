"""late collection of restock cards: collect_until and collected_cards on fulfilments

Revision ID: 9b3f6e1a7c20
Revises: 5e7a1c2d9b40
Create Date: 2026-11-27 19:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '9b3f6e1a7c20'
down_revision: Union[str, Sequence[str], None] = '5e7a1c2d9b40'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LATE_COLLECTION = (
    "collect_until IS NULL OR (purpose = 'restock' AND status = 'failed' AND supplier_order_id IS NOT NULL)"
)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('fulfilments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('collect_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('collected_cards', sa.Integer(), nullable=True))
        batch_op.create_index('ix_fulfilments_collect_until', ['collect_until'], unique=False)
        batch_op.create_check_constraint(op.f('ck_fulfilments_late_collection'), LATE_COLLECTION)


def downgrade() -> None:
    """Downgrade schema: the lines still being collected are given up."""
    with op.batch_alter_table('fulfilments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_fulfilments_late_collection'), type_='check')
        batch_op.drop_index('ix_fulfilments_collect_until')
        batch_op.drop_column('collected_cards')
        batch_op.drop_column('collect_until')
