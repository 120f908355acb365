"""The test database, migrated once per run, and a transaction per test rolled back at its end,
so every test starts from the same empty tables whatever it committed."""

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.api.deps import ServiceState, service_state
from app.core.config import Settings
from app.db.database import Database
from app.db.engine import create_engine


def migrate(database_url: str) -> None:
    """Bring a database to the newest migration."""
    config = Config(Path(__file__).parents[2] / "alembic.ini")
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


@pytest.fixture(scope="session")
def migrated(database_url: str) -> None:
    """Bring the test database to the newest migration, once per run."""
    migrate(database_url)


@pytest.fixture(scope="session")
async def engine(
    migrated: None, settings_factory: Callable[..., Settings]
) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings_factory())
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """An outer transaction that is rolled back after the test, whatever it committed."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture
def session_factory(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test's connection; their commits release a savepoint, nothing more."""
    return async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def on_test_transaction(connection: AsyncConnection) -> Iterator[Callable[[FastAPI], None]]:
    """`on_test_transaction(app)`, on a started app: its requests read and write in the test's
    transaction, where their commits release a savepoint, nothing more (`Database.bound_to`).
    The app gets its own database back when the test ends."""
    pointed: list[tuple[ServiceState, Database]] = []

    def point(app: FastAPI) -> None:
        state = service_state(app)
        pointed.append((state, state.database))
        state.database = state.database.bound_to(connection)

    yield point
    for state, database in reversed(pointed):
        state.database = database
