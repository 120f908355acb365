"""The items' jobs."""

import structlog
from taskiq import Context, TaskiqDepends

from app.db.outbox import apply_once
from app.jobs.state import Tasks, worker_state
from app.schemas.item_imports import ImportItems
from app.services import item_imports

logger = structlog.get_logger(__name__)


async def import_items(message: ImportItems, context: Context = TaskiqDepends()) -> None:
    """Make the items of an import, once: a redelivered job finds itself applied and stops."""
    database = worker_state(context).database
    async with database.session() as session:
        if not await apply_once(session, context.message.task_id, ImportItems.task_name):
            logger.info("job_already_applied", task=ImportItems.task_name)
            return
        made = await item_imports.import_items(session, message)
    logger.info("items_imported", made=made, sent=len(message.items))


TASKS: Tasks = {ImportItems: import_items}
