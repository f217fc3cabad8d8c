"""after-sales tickets: a buyer's refund requests and staff's comments on them

Revision ID: b3e7f1a2c4d6
Revises: 9d4a6b1c2e85
Create Date: 2026-11-27 11:50:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "b3e7f1a2c4d6"
down_revision: Union[str, None] = "9d4a6b1c2e85"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "refund_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refund_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["order_refunds.id"], name=op.f("fk_refund_requests_refund_id_order_refunds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_requests")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_refund_requests_refund_id")),
    )
    with op.batch_alter_table("refund_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_requests_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_requests_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_refund_requests_status_created", ["status", "created_at"], unique=False)
        batch_op.create_index(
            "uq_refund_requests_open_order",
            ["order_id"],
            unique=True,
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )
    op.create_table(
        "refund_request_comments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["refund_requests.id"],
            name=op.f("fk_refund_request_comments_request_id_refund_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_request_comments")),
    )
    with op.batch_alter_table("refund_request_comments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refund_request_comments_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("refund_request_comments")
    op.drop_table("refund_requests")
