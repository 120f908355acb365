"""Every model, imported here so `Base.metadata` knows all tables (alembic reads it)."""

from app.db.models.item import Item

__all__ = ["Item"]
