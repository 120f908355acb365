"""Give items an owner.

Existing items keep a null owner (only superusers see them), so the migration never fails on a
table that already has rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode rebuilds the table where ALTER cannot add a foreign key (SQLite).
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_items_owner_id"), ["owner_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_items_owner_id_users"), "users", ["owner_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_constraint(batch.f("fk_items_owner_id_users"), type_="foreignkey")
        batch.drop_index(batch.f("ix_items_owner_id"))
        batch.drop_column("owner_id")
