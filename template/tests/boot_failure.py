"""An app whose start-up fails, for tests/test_serving.py: gunicorn serves it by name.

What the test checks is gunicorn's report of a worker that fails to boot, so the app is the least
ASGI that fails its start-up as the service's does (a lifespan that reports the failure, as
Starlette's does when the service's lifespan raises). Importing nothing else keeps the worker's
boot to gunicorn's own cost.
"""

from starlette.types import Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await receive()  # lifespan.startup
        await send({"type": "lifespan.startup.failed", "message": "a dependency is unreachable"})
