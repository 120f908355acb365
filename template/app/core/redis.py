"""The Redis client: one connection pool per process, created and closed by the lifespan."""

from limits.aio.storage import RedisStorage
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.core.config import Settings


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


def rate_limit_storage(redis: Redis, settings: Settings) -> RedisStorage:
    """The limiter's storage on the client's pool: one set of connections for the process."""
    return RedisStorage(
        f"async+{settings.redis_url}",
        implementation="redispy",
        key_prefix=settings.rate_limit_key_prefix,
        # Raise StorageError for every Redis failure, which is what the limiter catches.
        wrap_exceptions=True,
        connection_pool=redis.connection_pool,  # type: ignore[arg-type]
    )
