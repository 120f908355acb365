"""The Redis client: one connection pool per process, created and closed by the lifespan."""

import asyncio
from typing import Any, cast

from limits.aio.storage import RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.core.config import Settings

# A command waiting to be sent: its arguments, its options, and where its reply goes.
Queued = tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]


def create_redis(settings: Settings) -> Redis:
    """A pooled client whose every wait is bounded, so a Redis outage costs a request little.

    No retries: the rate limiter fails open (or closed) at once, and a retry would only add the
    timeout again to a request that is waiting. A request that finds every connection in use
    waits at most the socket timeout for one.
    """
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_connect_timeout,
        socket_timeout=settings.redis_socket_timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return Redis.from_pool(pool)


async def ping_redis(redis: Redis) -> None:
    """Readiness check: a round trip on a pooled connection."""
    await redis.ping()


class PipeliningRedis(Redis):
    """A client that sends the commands issued in one event-loop turn as one pipeline.

    The limiter makes two Redis calls per request, and redis-py spends far more CPU per round trip
    (taking a pooled connection, timeouts, parsing) than Redis spends running the script, so under
    load that CPU, not Redis, bounds a worker's throughput. Requests that are served concurrently
    issue their calls in the same turn; sent together they share one round trip. Each command
    keeps its own reply or error, and each script still runs atomically in Redis, so the counts
    stay exact across workers. Not for commands that hold a connection (blocking reads, pub/sub,
    transactions: `pipeline()` returns an ordinary pipeline).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued: list[Queued] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        self._queued.append((args, options, reply))
        if len(self._queued) == 1:
            # After the callbacks already ready, so this turn's other requests queue theirs too.
            loop.call_soon(self._send_queued)
        return await reply

    def _send_queued(self) -> None:
        queued, self._queued = self._queued, []
        task = asyncio.get_running_loop().create_task(self._send(queued))
        self._sending.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._sending.discard)

    async def _send(self, queued: list[Queued]) -> None:
        pipeline = self.pipeline(transaction=False)
        for args, options, _ in queued:
            pipeline.execute_command(*args, **options)
        try:
            # Errors of single commands (a NOSCRIPT the caller recovers from) come back as values.
            replies = await pipeline.execute(raise_on_error=False)
        except asyncio.CancelledError:
            for *_, reply in queued:
                reply.cancel()
            raise
        except Exception as exc:  # the connection failed: every command of the batch did
            for *_, reply in queued:
                if not reply.done():
                    reply.set_exception(exc)
            return
        for (*_, reply), value in zip(queued, replies, strict=True):
            if reply.done():  # its request was cancelled; the command ran all the same
                continue
            if isinstance(value, Exception):
                reply.set_exception(value)
            else:
                reply.set_result(value)


class PipelinedRedisStorage(RedisStorage):
    """limits' Redis storage (its scripts, keys and strategies) on a `PipeliningRedis`."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._client = PipeliningRedis(connection_pool=redis.connection_pool)
        super().__init__(
            f"async+{settings.redis_url}",
            implementation="redispy",
            key_prefix=settings.rate_limit_key_prefix,
            # Raise StorageError for every Redis failure, which is what the limiter catches.
            wrap_exceptions=True,
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )

    def configure_bridge(self) -> None:
        # limits builds its own client on the pool, with no way to pass one in: it is replaced
        # before the storage registers its scripts, so every call of the storage goes through ours.
        super().configure_bridge()
        cast(RedispyBridge, self.bridge).storage = self._client


def rate_limit_storage(redis: Redis, settings: Settings) -> RedisStorage:
    """The limiter's storage on the client's pool: one set of connections for the process."""
    return PipelinedRedisStorage(redis, settings)
