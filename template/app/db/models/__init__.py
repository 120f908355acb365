"""The models: every module in this package is imported, so `Base.metadata` knows all tables.

alembic's autogenerate reads that metadata. Adding a model is adding a module
(`app/db/models/order.py`); this file, which the template owns, never needs editing.
"""

import importlib
import pkgutil

from app.db.models.item import Item
{%- if auth == 'jwt' %}
from app.db.models.refresh_token import RefreshToken
from app.db.models.user import User
{%- endif %}

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Item"{% if auth == 'jwt' %}, "RefreshToken", "User"{% endif %}]
