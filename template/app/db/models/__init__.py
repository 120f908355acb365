"""The models: every module in this package is imported, so `Base.metadata` knows all tables.

alembic's autogenerate reads that metadata. Adding a model is adding a module
(`app/db/models/order.py`); this file, which the template owns, never needs editing. Import a
model from its own module: `from app.db.models.order import Order`.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
