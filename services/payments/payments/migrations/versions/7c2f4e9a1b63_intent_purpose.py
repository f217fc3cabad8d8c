"""what a payment intent pays for: an order or a wallet top-up

Revision ID: 7c2f4e9a1b63
Revises: 5b1e0c2a9d41
Create Date: 2026-11-27 09:10:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "7c2f4e9a1b63"
down_revision: Union[str, None] = "5b1e0c2a9d41"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("payment_intents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=16), server_default="order", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("payment_intents", schema=None) as batch_op:
        batch_op.drop_column("purpose")
