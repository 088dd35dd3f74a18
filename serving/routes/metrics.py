"""``GET /metrics``: Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lakehouse.api_keys import ADMIN
from serving.auth import require
from serving.deps import StateDep
from serving.schemas.common import AUTH_RESPONSES

router = APIRouter(
    tags=["metrics"],
    dependencies=[Depends(require(ADMIN))],
    responses=AUTH_RESPONSES,
)


@router.get("/metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    """Requests, latency histograms, prediction distributions, micro-batch sizes, model
    loads and swaps, and per-feature drift (PSI) against each model's training data."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
