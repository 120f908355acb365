"""The routes the jobs benchmark loads, served inside a rendered jobs=taskiq service's import path
(`bench/jobs.py` serves it; not a module to run by hand): the same write, an item inserted in the
request's transaction, without and with a job enqueued in that transaction through the outbox.
Plain routes on the service's app (its middleware, its session dependency), with no limiter and
no sign-in, so the difference between them is the enqueue and the relay's sending alone."""

import time
import uuid

from app.api.deps import SessionDep
from app.db.models.item import Item
from app.db.outbox import JobQueue
from app.main import create_app
from jobs_inner import Noop

app = create_app()


@app.post("/bench/write", status_code=201)
async def write(session: SessionDep) -> dict[str, str]:
    session.add(Item(name=uuid.uuid4().hex))
    return {"status": "written"}


@app.post("/bench/write-and-enqueue", status_code=201)
async def write_and_enqueue(session: SessionDep) -> dict[str, str]:
    session.add(Item(name=uuid.uuid4().hex))
    JobQueue(session).enqueue(Noop(sent_at=time.time()))
    return {"status": "written"}
