"""risk's score and reasons on the order, and the review decision of an order on hold

Revision ID: a3c1d7e90b42
Revises: 52598a8ea08a
Create Date: 2026-11-27 08:50:00

Orders already on hold get a whole review period from the upgrade
(KAMENG_REVIEW_TTL_SECONDS, as the service reads it) before they are cancelled.
"""

import datetime
import os
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "a3c1d7e90b42"
down_revision: Union[str, Sequence[str], None] = "52598a8ea08a"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

DEFAULT_REVIEW_TTL_SECONDS = 86400


def upgrade() -> None:
    op.create_table(
        "order_reviews",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_order_reviews_order_id_orders")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_reviews")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("risk_score", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("risk_reasons", sa.JSON(), nullable=True))
    review_seconds = int(os.environ.get("KAMENG_REVIEW_TTL_SECONDS", DEFAULT_REVIEW_TTL_SECONDS))
    orders = sa.table(
        "orders", sa.column("status", sa.String), sa.column("expires_at", sa.DateTime(timezone=True))
    )
    op.execute(
        orders.update()
        .where(orders.c.status == "on_hold", orders.c.expires_at.is_(None))
        .values(expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=review_seconds))
    )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("risk_reasons")
        batch_op.drop_column("risk_score")
    op.drop_table("order_reviews")
