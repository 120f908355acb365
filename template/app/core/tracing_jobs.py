"""Tracing in the job worker (`JobTracing`, its hooks): a span per job, continuing the trace of
the request that enqueued it (its labels carry the trace context), and the job's queries and
outbound calls as its children."""

from collections.abc import Sequence

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine
from taskiq.middlewares.opentelemetry_middleware import OpenTelemetryMiddleware
from taskiq_redis import RedisStreamBroker

from app.core.config import Settings
from app.core.tracing import configure_tracing, instrument_engines, instrument_http_client
from app.core.worker_hooks import WorkerHooks


class JobTracing(WorkerHooks):
    def __init__(self, settings: Settings) -> None:
        self.provider = configure_tracing(settings)

    def install(self, broker: RedisStreamBroker) -> None:
        broker.add_middlewares(OpenTelemetryMiddleware(tracer_provider=self.provider))

    async def started(self, engines: Sequence[AsyncEngine], http_client: AsyncClient) -> None:
        instrument_engines(self.provider, *engines)
        instrument_http_client(http_client, self.provider)
