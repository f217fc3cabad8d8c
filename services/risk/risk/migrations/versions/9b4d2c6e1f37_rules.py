"""the rules' facts: unpaid and closed orders, their lines, customers' sign-ins, refunds; the blacklist by
account, address and device

Revision ID: 9b4d2c6e1f37
Revises: 9b7e2d4c1f30
Create Date: 2026-11-27 09:10:00

The customer blacklist becomes account entries of the new blacklist.
"""

import uuid
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "9b4d2c6e1f37"
down_revision: Union[str, Sequence[str], None] = "9b7e2d4c1f30"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_ip", sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column("device_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("closed_as", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_assessments_customer_closed", ["customer_id", "closed_as", "closed_at"], unique=False
        )
    # orders scored before risk followed their fate: none is counted as unpaid from now on
    op.execute("UPDATE assessments SET closed_as = 'unknown'")
    op.create_table(
        "assessment_lines",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "product_id"),
    )
    op.create_table(
        "early_closures",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("closed_as", sa.String(length=16), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "customer_profiles",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("new_network_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("new_network", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "customer_networks",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "network"),
    )
    op.create_table(
        "refund_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("refund_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_refund_requests_customer_requested", ["customer_id", "requested_at"], unique=False
        )
    blacklist_entries = op.create_table(
        "blacklist_entries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "value", name="uq_blacklist_entries_kind_value"),
    )
    old = op.get_bind().execute(sa.text("SELECT customer_id, reason, created_at FROM blacklist")).all()
    if old:
        op.bulk_insert(
            blacklist_entries,
            [
                {
                    "id": str(uuid.uuid4()),
                    "kind": "account",
                    "value": customer_id,
                    "reason": reason,
                    "created_by": None,
                    "created_at": created_at,
                }
                for customer_id, reason, created_at in old
            ],
        )
    op.drop_table("blacklist")


def downgrade() -> None:
    op.create_table(
        "blacklist",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.execute(
        "INSERT INTO blacklist (customer_id, reason, created_at) "
        "SELECT value, reason, created_at FROM blacklist_entries WHERE kind = 'account'"
    )
    op.drop_table("blacklist_entries")
    op.drop_table("refund_requests")
    op.drop_table("customer_networks")
    op.drop_table("customer_profiles")
    op.drop_table("early_closures")
    op.drop_table("assessment_lines")
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_index("ix_assessments_customer_closed")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("closed_as")
        batch_op.drop_column("device_id")
        batch_op.drop_column("client_ip")
