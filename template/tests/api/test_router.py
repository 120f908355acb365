"""The versioned API serves every resource module's router, and only a `ResourceRouter`."""

import sys
from pathlib import Path

import pytest

import app.api.v1 as package
from app.api.v1.router import collect_routers


def test_every_resource_module_is_served_in_the_order_of_its_name() -> None:
    prefixes = [router.prefix for router in collect_routers()]

    assert "/api/v1/info" in prefixes
    assert prefixes == sorted(prefixes)


def test_a_plain_api_router_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # As a resource written before ResourceRouter existed, or after FastAPI's tutorial.
    (tmp_path / "orders.py").write_text("from fastapi import APIRouter\n\nrouter = APIRouter()\n")
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "app.api.v1.orders", raising=False)

    with pytest.raises(TypeError, match=r"app\.api\.v1\.orders\.router is an APIRouter"):
        collect_routers()
    sys.modules.pop("app.api.v1.orders", None)
