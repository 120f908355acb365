"""alembic environment: async engine, URL from the service's settings, types compared."""

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.types import TypeDecorator

from app.core.config import get_settings
from app.db import models  # noqa: F401 - registers every table on Base.metadata
from app.db.base import Base

config = context.config
if config.cmd_opts is not None and config.config_file_name is not None:
    # Run from the alembic command line: log as alembic.ini says. Called from code (the
    # tests), the caller's logging is left alone.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
# A caller (the test suite, a script) may pass the URL; otherwise DATABASE_URL from settings.
database_url: str = config.attributes.get("database_url") or get_settings().database_url


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """How autogenerate writes a column type that is not SQLAlchemy's own.

    A type of the app's that wraps one of SQLAlchemy's generic types (`UTCDateTime`) is written
    as the type it stores, `sa.DateTime(timezone=True)`: the column is the same, and a migration
    that imports nothing from the app keeps working however the app changes later. Any other
    type is left to alembic, which writes its full path (`app.db.types.Money()`); its module is
    imported at the top of the migration, so the file runs as written.
    """
    if kind != "type":
        return False
    if isinstance(item, TypeDecorator) and type(item.impl).__module__ == "sqlalchemy.sql.sqltypes":
        return f"sa.{item.impl!r}"
    module = type(item).__module__
    if not module.startswith("sqlalchemy."):
        autogen_context.imports.add(f"import {module}")
    return False


def configure(**options: Any) -> None:
    context.configure(
        target_metadata=Base.metadata,
        compare_type=True,
        render_item=render_item,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=make_url(database_url).get_backend_name() == "sqlite",
        **options,
    )


def run_offline() -> None:
    configure(url=database_url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_sync(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
