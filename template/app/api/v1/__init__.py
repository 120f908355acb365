"""Version 1 of the public API."""

# Each resource router carries the full prefix itself, so `route.path` is the whole route
# template (what the access log and metrics label requests with) on every FastAPI version.
PREFIX = "/api/v1"
