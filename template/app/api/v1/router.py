"""Version 1 of the public API: every module in this package that defines `router`.

Adding a resource is adding a module (`app/api/v1/orders.py` with `router = APIRouter(...)`);
this file, which the template owns, never needs editing, so `copier update` never conflicts here.
`app/main.py` includes each router in the app itself: FastAPI matches a request against every
level of included routers again, so one level fewer is work no request does.
"""

import importlib
import pkgutil

from fastapi import APIRouter

import app.api.v1 as package


def collect_routers() -> list[APIRouter]:
    """The `router` of each module of the package, in the order of the modules' names."""
    routers = []
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name == __name__.rpartition(".")[2]:
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            routers.append(router)
    return routers
