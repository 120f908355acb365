"""Version 1 of the public API: every module in this package that defines `router` is included.

Adding a resource is adding a module (`app/api/v1/orders.py` with `router = APIRouter(...)`);
this file, which the template owns, never needs editing, so `copier update` never conflicts here.
"""

import importlib
import pkgutil

from fastapi import APIRouter

import app.api.v1 as package

router = APIRouter()

for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
    if module_info.name == __name__.rpartition(".")[2]:
        continue
    module = importlib.import_module(f"{package.__name__}.{module_info.name}")
    resource_router = getattr(module, "router", None)
    if isinstance(resource_router, APIRouter):
        router.include_router(resource_router)
