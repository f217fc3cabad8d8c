"""stock alerts and low stock thresholds

Revision ID: fc85a81501ad
Revises: 21fd6b768a55
Create Date: 2026-11-27 11:32:40.675779

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'fc85a81501ad'
down_revision: Union[str, Sequence[str], None] = '21fd6b768a55'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('stock_alerts',
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('low', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_alerts_product_id_products')),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_stock_alerts'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('low_stock_threshold', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_products_low_stock_threshold'), 'low_stock_threshold IS NULL OR low_stock_threshold >= 0'
        )



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_products_low_stock_threshold'), type_='check')
        batch_op.drop_column('low_stock_threshold')

    op.drop_table('stock_alerts')
