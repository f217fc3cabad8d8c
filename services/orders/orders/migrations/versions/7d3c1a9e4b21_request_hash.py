"""the hash of the request an idempotency key was first used with

Revision ID: 7d3c1a9e4b21
Revises: a3c1d7e90b42
Create Date: 2026-11-27 08:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d3c1a9e4b21"
down_revision: str | Sequence[str] | None = "a3c1d7e90b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("request_hash")
