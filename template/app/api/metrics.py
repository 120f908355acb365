"""The Prometheus scrape endpoint, beside the health probes and outside the versioned API.

Like the probes it is never rate-limited or authenticated, and it is left out of the OpenAPI
document: it is for the cluster's Prometheus, not the API's clients. Keep it off the public
ingress (README.md, "Metrics").
"""

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.core.metrics import METRICS_PATH, render_metrics

router = APIRouter(include_in_schema=False)


@router.get(METRICS_PATH)
def metrics() -> Response:
    """Every worker's samples in Prometheus' text format (a plain def: it reads files)."""
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
