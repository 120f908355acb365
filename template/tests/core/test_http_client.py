"""The shared outbound client: made by the lifespan within the settings' bounds, closed at shutdown."""

import asyncio

import httpx
import pytest
from httpx import ASGITransport, AsyncClient

from app.api.deps import HttpClientDep, service_state
from app.main import create_app
from tests.conftest import SettingsFactory, Upstream


async def test_the_lifespan_creates_the_client_and_closes_it(
    settings_factory: SettingsFactory,
) -> None:
    app = create_app(settings_factory(http_client_timeout=1.5, http_client_connect_timeout=0.5))

    async with app.router.lifespan_context(app):
        client = service_state(app).http_client
        assert not client.is_closed
        assert client.timeout == httpx.Timeout(1.5, connect=0.5)

    assert client.is_closed


async def test_routes_get_the_shared_client(
    settings_factory: SettingsFactory, upstream: Upstream
) -> None:
    app = create_app(settings_factory())
    seen: list[httpx.AsyncClient] = []

    @app.get("/test/relay")
    async def relay(http: HttpClientDep) -> dict[str, str]:
        seen.append(http)
        response = await http.get(upstream.url)
        return {"rate": str(response.json()["rate"])}

    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        answers = [(await client.get("/test/relay")).json() for _ in range(2)]

    assert answers == [{"rate": "1.25"}] * 2
    assert seen == [service_state(app).http_client] * 2


async def test_a_slow_service_times_out_at_the_setting(
    settings_factory: SettingsFactory, upstream: Upstream
) -> None:
    app = create_app(settings_factory(http_client_timeout=0.1))
    upstream.delay = 5.0

    async with app.router.lifespan_context(app):
        with pytest.raises(httpx.ReadTimeout):
            await service_state(app).http_client.get(upstream.url)


async def test_connections_are_limited_to_the_setting(
    settings_factory: SettingsFactory, upstream: Upstream
) -> None:
    app = create_app(settings_factory(http_client_max_connections=2))
    upstream.delay = 0.05

    async with app.router.lifespan_context(app):
        client = service_state(app).http_client
        answers = await asyncio.gather(*(client.get(upstream.url) for _ in range(6)))

    assert [answer.status_code for answer in answers] == [200] * 6
    assert upstream.most_in_flight == 2
