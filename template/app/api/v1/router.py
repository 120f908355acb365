"""Version 1 of the public API: every module in this package that defines `router`.

Adding a resource is adding a module (`app/api/v1/orders.py` with
`router = ResourceRouter("orders")`); this file, which the template owns, never needs editing,
so `copier update` never conflicts here.
"""

import importlib
import pkgutil

from fastapi import APIRouter

import app.api.v1 as package
from app.api.v1 import ResourceRouter


def collect_routers() -> list[ResourceRouter]:
    """The `router` of each module of the package, in the order of the modules' names.

    A plain `APIRouter` is refused, so no resource is served without what `ResourceRouter`
    gives every route of the API (its prefix and, with a limiter, the default rate limit).
    """
    routers = []
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name == __name__.rpartition(".")[2]:
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, ResourceRouter):
            routers.append(router)
        elif isinstance(router, APIRouter):
            raise TypeError(
                f"{module.__name__}.router is an APIRouter: make it a ResourceRouter "
                f'(`router = ResourceRouter("{module_info.name}")`, app/api/v1/__init__.py)'
            )
    return routers
