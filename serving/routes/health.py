"""``GET /health`` (the process is alive) and ``GET /ready`` (models and data loaded)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from serving.deps import FeaturesDep, HolderDep
from serving.schemas.health import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> Health:
    """Alive: the process answers (models may still be loading)."""
    return Health()


@router.get(
    "/ready",
    responses={503: {"model": Readiness, "description": "Something is not loaded"}},
)
async def ready(holder: HolderDep, features: FeaturesDep, response: Response) -> Readiness:
    """Ready when every task has a model and its features; degraded when an older champion
    serves because the newer one failed to load (or is loading); 503 when not ready."""
    models = {task: slot.status() for task, slot in holder.slots.items()}
    states = {m["state"] for m in models.values()}
    feature_status = features.status()
    missing_features = any(not features.is_ready(task) for task in holder.slots)
    if "not_ready" in states or missing_features:
        overall = "not_ready"
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif states == {"ready"} and not any(f["error"] for f in feature_status.values()):
        overall = "ready"
    else:
        overall = "degraded"
    return Readiness(status=overall, models=models, features=feature_status)
