"""where a payment intent's buyer pays (a provider's pay_url, code_url or signed form)

Revision ID: 5b1e0c2a9d41
Revises: 042039cbf769
Create Date: 2026-11-27 09:00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e0c2a9d41"
down_revision: Union[str, None] = "042039cbf769"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("payment_intents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkout", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_intents", schema=None) as batch_op:
        batch_op.drop_column("checkout")
