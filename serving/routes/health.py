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
    """Each model is ready on its own. 200 when every model that has a champion (and every
    model ``serve.require_models`` names) answers with its features loaded, and at least one
    model answers; ``degraded`` when an older champion answers because a newer one failed to
    load (or is loading), or data failed to refresh; 503 otherwise. A model without a
    champion answers 503 on its own routes and does not hold the others back."""
    required = set(holder.settings.serve.require_models)
    models = {task: slot.status() for task, slot in holder.slots.items()}
    feature_status = features.status()
    blocking, answering = [], []
    for task, model in models.items():
        waived = model["state"] == "no_champion" and task not in required
        model["features_ready"] = features.is_ready(task)
        model["required"] = task in required
        if model["serving"] is not None and model["features_ready"]:
            answering.append(task)
        elif not waived:
            blocking.append(task)
    if blocking or not answering:
        overall = "not_ready"
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif all(models[task]["state"] == "ready" for task in answering) and not any(
        f["error"] for f in feature_status.values()
    ):
        overall = "ready"
    else:
        overall = "degraded"
    return Readiness(
        status=overall,
        answering=sorted(answering),
        waiting_for=sorted(blocking),
        models=models,
        features=feature_status,
    )
