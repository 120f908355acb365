"""The circuit breaker opens, fails fast, half-opens and closes; a fallback stands in while open."""

import asyncio

import httpx
import pytest
from httpx import ASGITransport, AsyncClient

from app.api.deps import CircuitBreakersDep, HttpClientDep, service_state
from app.core.circuit_breaker import CircuitBreaker, CircuitOpenError, CircuitState
from app.core.logging import configure_logging
from app.main import create_app
from tests.conftest import SettingsFactory, Upstream, log_events


class Clock:
    """The breaker's clock, moved by hand: cooldowns pass without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class UpstreamDownError(Exception):
    pass


class Operation:
    """A call to another service that fails until told otherwise, counting how often it is made."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = True

    async def __call__(self) -> str:
        self.calls += 1
        if self.failing:
            raise UpstreamDownError
        return "fresh"


def breaker(clock: Clock, threshold: int = 3, cooldown: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker("rates", failure_threshold=threshold, cooldown=cooldown, clock=clock)


async def fail(circuit: CircuitBreaker, operation: Operation, times: int) -> None:
    for _ in range(times):
        with pytest.raises(UpstreamDownError):
            await circuit.call(operation)


async def test_the_breaker_opens_after_the_threshold_and_then_fails_fast() -> None:
    clock, operation = Clock(), Operation()
    circuit = breaker(clock, threshold=3)

    await fail(circuit, operation, 2)
    before_threshold = circuit.state
    await fail(circuit, operation, 1)

    assert before_threshold is CircuitState.CLOSED
    assert circuit.state is CircuitState.OPEN

    clock.now = 29.5
    with pytest.raises(CircuitOpenError) as refused:
        await circuit.call(operation)
    assert operation.calls == 3  # refused without calling
    assert refused.value.status == 503
    assert refused.value.headers == {"Retry-After": "1"}


async def test_a_success_resets_the_count_of_failures_in_a_row() -> None:
    clock, operation = Clock(), Operation()
    circuit = breaker(clock, threshold=3)

    await fail(circuit, operation, 2)
    operation.failing = False
    assert await circuit.call(operation) == "fresh"
    operation.failing = True
    await fail(circuit, operation, 2)

    assert circuit.state is CircuitState.CLOSED


async def test_after_the_cooldown_one_trial_closes_it_again() -> None:
    clock, operation = Clock(), Operation()
    circuit = breaker(clock, threshold=1, cooldown=30)
    await fail(circuit, operation, 1)

    clock.now = 30.0
    operation.failing = False
    assert await circuit.call(operation) == "fresh"

    assert circuit.state is CircuitState.CLOSED
    assert operation.calls == 2


async def test_a_failed_trial_opens_it_for_another_cooldown() -> None:
    clock, operation = Clock(), Operation()
    circuit = breaker(clock, threshold=1, cooldown=30)
    await fail(circuit, operation, 1)

    clock.now = 30.0
    await fail(circuit, operation, 1)
    assert circuit.state is CircuitState.OPEN

    clock.now = 59.0
    with pytest.raises(CircuitOpenError):
        await circuit.call(operation)
    assert operation.calls == 2


async def test_half_open_lets_one_trial_through_at_a_time() -> None:
    clock = Clock()
    circuit = breaker(clock, threshold=1, cooldown=30)
    await fail(circuit, Operation(), 1)
    clock.now = 30.0
    release = asyncio.Event()

    async def slow_trial() -> str:
        await release.wait()
        return "fresh"

    trial = asyncio.create_task(circuit.call(slow_trial))
    await asyncio.sleep(0)
    during_trial = circuit.state
    with pytest.raises(CircuitOpenError):
        await circuit.call(slow_trial)
    release.set()

    assert during_trial is CircuitState.HALF_OPEN
    assert await trial == "fresh"
    assert circuit.state is CircuitState.CLOSED


async def test_an_answer_that_is_no_failure_keeps_it_closed() -> None:
    circuit = CircuitBreaker(
        "rates",
        failure_threshold=1,
        cooldown=30,
        is_failure=lambda exc: not isinstance(exc, LookupError),
        clock=Clock(),
    )

    async def not_found() -> str:
        raise LookupError

    with pytest.raises(LookupError):
        await circuit.call(not_found, fallback=lambda: "unused")
    assert circuit.state is CircuitState.CLOSED


async def test_the_fallback_stands_in_for_a_failed_or_refused_call() -> None:
    clock, operation = Clock(), Operation()
    circuit = breaker(clock, threshold=2)

    answers = [await circuit.call(operation, fallback=lambda: "cached") for _ in range(4)]

    assert answers == ["cached"] * 4
    assert operation.calls == 2  # the last two never left: the circuit was open
    assert circuit.state is CircuitState.OPEN


async def test_every_state_change_is_logged(
    settings_factory: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(settings_factory())
    clock, operation = Clock(), Operation()
    circuit = breaker(clock, threshold=1, cooldown=30)

    await fail(circuit, operation, 1)
    clock.now = 30.0
    operation.failing = False
    await circuit.call(operation)

    changes = [
        (event["breaker"], event["old"], event["new"])
        for event in log_events(capsys)
        if event["event"] == "circuit_state_changed"
    ]
    assert changes == [
        ("rates", "closed", "open"),
        ("rates", "open", "half_open"),
        ("rates", "half_open", "closed"),
    ]


async def test_a_fallback_is_served_while_a_real_service_is_down(
    settings_factory: SettingsFactory, upstream: Upstream
) -> None:
    """Through the lifespan's client and breakers, against a server that answers 503."""
    app = create_app(
        settings_factory(circuit_breaker_failure_threshold=2, circuit_breaker_cooldown=0.2)
    )

    @app.get("/test/rate")
    async def rate(http: HttpClientDep, breakers: CircuitBreakersDep) -> dict[str, str]:
        async def fetch() -> str:
            response = await http.get(f"{upstream.url}/rates/EUR")
            response.raise_for_status()
            return str(response.json()["rate"])

        value = await breakers["rates"].call(fetch, fallback=lambda: "1.00")
        return {"rate": value}

    upstream.status = 503
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        degraded = [(await client.get("/test/rate")).json()["rate"] for _ in range(4)]
        requests_while_open = upstream.requests
        upstream.status = 200
        await asyncio.sleep(0.25)  # the cooldown
        recovered = (await client.get("/test/rate")).json()["rate"]

    assert degraded == ["1.00"] * 4
    assert requests_while_open == 2  # the threshold; the open breaker sent nothing more
    assert recovered == "1.25"
    assert service_state(app).circuit_breakers["rates"].state is CircuitState.CLOSED


async def test_an_open_breaker_without_fallback_answers_503_problem(
    settings_factory: SettingsFactory, upstream: Upstream
) -> None:
    app = create_app(settings_factory(circuit_breaker_failure_threshold=1))

    @app.get("/test/rate")
    async def rate(http: HttpClientDep, breakers: CircuitBreakersDep) -> dict[str, str]:
        response = await breakers["rates"].call(lambda: http.get(upstream.url))
        return {"status": str(response.status_code)}

    await upstream.stop()  # connections are refused from now on
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        state = service_state(app)
        with pytest.raises(httpx.ConnectError):
            await state.circuit_breakers["rates"].call(lambda: state.http_client.get(upstream.url))
        response = await client.get("/test/rate")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "30"
    body = response.json()
    assert body["type"] == "urn:problem:dependency-unavailable"
    assert body["request_id"] == response.headers["x-request-id"]
    assert "127.0.0.1" not in response.text
