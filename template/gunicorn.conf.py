"""gunicorn settings for the container: `gunicorn -c gunicorn.conf.py "app.main:create_app()"`.

Every value can be overridden from the environment, so one image serves every environment.
"""

import os


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# The app runs in uvicorn's event loop inside each gunicorn worker process.
worker_class = "uvicorn_worker.UvicornWorker"
# One worker per container: scale out with replicas (the HorizontalPodAutoscaler) rather than
# processes, so each container's memory and database connections stay predictable and the
# orchestrator, not gunicorn, decides how much CPU the service gets.
workers = _env_int("WEB_CONCURRENCY", 1)
# All interfaces, because a container is reached through its own network namespace only.
bind = [os.environ.get("BIND", "0.0.0.0:8000")]

# On SIGTERM, in-flight requests get this long to finish before the workers are killed. Kubernetes'
# terminationGracePeriodSeconds must be longer than this plus the preStop pause.
graceful_timeout = _env_int("GRACEFUL_TIMEOUT", 20)
# A worker whose event loop is blocked this long is killed and replaced.
timeout = _env_int("TIMEOUT", 30)
# Seconds an idle keep-alive connection stays open; behind a load balancer, set it above the
# balancer's idle timeout so the balancer closes first and never reuses a closing connection.
keepalive = _env_int("KEEPALIVE", 5)
# Replace a worker after this many requests, so a slow leak cannot grow without bound; the jitter
# keeps several workers from restarting at once. Connections wait in the listen backlog meanwhile.
max_requests = _env_int("MAX_REQUESTS", 10_000)
max_requests_jitter = _env_int("MAX_REQUESTS_JITTER", 1_000)

# The app writes one structured access-log line per request itself (app/core/middleware.py).
accesslog = None
# Proxies whose X-Forwarded-For and X-Forwarded-Proto are trusted: set it to the ingress or load
# balancer addresses (or "*" when nothing else can reach the pods).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn's control socket (gunicornc) is off: the orchestrator scales and restarts the service,
# and the container's home directory, where the socket would go, is read-only.
control_socket_disable = True
