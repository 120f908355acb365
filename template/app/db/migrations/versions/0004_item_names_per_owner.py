"""Make item names unique per owner instead of across every user.

Every name that was unique across all items is unique per owner too, so the migration never
fails on a table that already has rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode rebuilds the table where ALTER cannot change a constraint (SQLite).
    with op.batch_alter_table("items") as batch:
        batch.drop_constraint(batch.f("uq_items_name"), type_="unique")
        batch.create_unique_constraint(batch.f("uq_items_owner_id_name"), ["owner_id", "name"])


def downgrade() -> None:
    # Fails while two owners share a name: which item keeps it is for a person to decide.
    with op.batch_alter_table("items") as batch:
        batch.drop_constraint(batch.f("uq_items_owner_id_name"), type_="unique")
        batch.create_unique_constraint(batch.f("uq_items_name"), ["name"])
