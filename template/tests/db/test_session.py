"""Sessions: safe requests read in autocommit and cannot write; the session gate admits requests
in arrival order and gives up after its timeout."""

import asyncio

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import delete, text, update
from sqlalchemy.sql import Executable

from app.api.deps import service_state
from app.db.database import Database
from app.db.errors import DatabaseBusyError
from app.db.models.item import Item
from app.db.session import ReadOnlySessionError, SessionGate


def database(app: FastAPI) -> Database:
    return service_state(app).database


async def in_transaction_after_a_read(database: Database, *, read_only: bool) -> bool:
    """What the driver itself says of a session's connection after one SELECT."""
    async with database.session(read_only=read_only) as session:
        await session.execute(text("SELECT 1"))
        raw = await (await session.connection()).get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        if hasattr(driver, "is_in_transaction"):  # asyncpg
            return bool(driver.is_in_transaction())
        return bool(driver.in_transaction)  # aiosqlite


async def test_a_read_session_runs_without_a_transaction(app: FastAPI) -> None:
    assert await in_transaction_after_a_read(database(app), read_only=False)
    assert not await in_transaction_after_a_read(database(app), read_only=True)


async def test_reads_and_writes_use_pools_of_their_own(app: FastAPI) -> None:
    # Read while the session holds its connection: a returned one no longer names its driver's.
    async with database(app).session(read_only=True) as session:
        reader = (await (await session.connection()).get_raw_connection()).driver_connection
    async with database(app).session() as session:
        writer = (await (await session.connection()).get_raw_connection()).driver_connection

    assert reader is not None
    assert writer is not None
    # One shared pool would hand the second session the connection the first gave back.
    assert reader is not writer


async def test_a_read_session_refuses_to_flush_a_change(app: FastAPI) -> None:
    async with database(app).session(read_only=True) as session:
        session.add(Item(name="written from a GET"))
        with pytest.raises(ReadOnlySessionError, match="GET, HEAD or OPTIONS"):
            await session.flush()
        session.expunge_all()  # or the end of the block refuses the same change again


async def test_a_change_left_pending_in_a_read_session_fails_at_its_end(app: FastAPI) -> None:
    # A read session has nothing to commit; a change left in it is a bug, refused, not dropped.
    with pytest.raises(ReadOnlySessionError, match="GET, HEAD or OPTIONS"):
        async with database(app).session(read_only=True) as session:
            session.add(Item(name="left pending by a GET"))


@pytest.mark.parametrize(
    "statement",
    [delete(Item), update(Item).values(name="renamed from a GET")],
    ids=["delete", "update"],
)
async def test_a_read_session_refuses_insert_update_and_delete(
    app: FastAPI, statement: Executable
) -> None:
    with pytest.raises(ReadOnlySessionError, match="INSERT, UPDATE or DELETE"):
        async with database(app).session(read_only=True) as session:
            await session.execute(statement)


async def test_waiters_are_admitted_in_arrival_order() -> None:
    gate = SessionGate(1, timeout=5)
    admitted: list[str] = []
    release_first = asyncio.Event()

    async def request(name: str, hold: asyncio.Event | None = None) -> None:
        async with gate.turn():
            admitted.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.create_task(request("first", release_first))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(request(f"waiter-{n}")) for n in range(3)]
    await asyncio.sleep(0)
    release_first.set()
    # Arrives as the first place comes free, before the woken waiter has run: it must queue.
    late = asyncio.create_task(request("late"))
    await asyncio.gather(first, *waiting, late)

    assert admitted == ["first", "waiter-0", "waiter-1", "waiter-2", "late"]


async def test_a_wait_past_the_timeout_raises_database_busy() -> None:
    gate = SessionGate(1, timeout=0.05)
    async with gate.turn():
        with pytest.raises(DatabaseBusyError):
            async with gate.turn():
                pass
    async with gate.turn():  # the place held above came back, and the timed-out wait took none
        pass


async def test_a_busy_database_answers_503_problem(app: FastAPI, client: AsyncClient) -> None:
    gate = database(app).read_gate
    database(app).read_gate = SessionGate(1, timeout=0.05)
    try:
        async with database(app).read_gate.turn():
            response = await client.get("/api/v1/items")
    finally:
        database(app).read_gate = gate

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_operations_using_the_database_declare_503(app: FastAPI) -> None:
    paths = app.openapi()["paths"]

    busy = paths["/api/v1/items"]["get"]["responses"]["503"]
    assert busy["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert "503" not in paths["/health/live"]["get"]["responses"]
