"""``GET /v1/models``: versions, aliases and lineage."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from lakehouse.api_keys import ADMIN
from serving.auth import require
from serving.deps import StateDep
from serving.schemas.common import AUTH_RESPONSES
from serving.schemas.models import ModelsResponse, ServedModel

router = APIRouter(
    prefix="/v1",
    tags=["models"],
    dependencies=[Depends(require(ADMIN))],
    responses=AUTH_RESPONSES,
)


@router.get("/models")
async def models(state: StateDep) -> ModelsResponse:
    """Per task: the registry's aliases at the last poll, the versions loaded with their
    training lineage (Gold table version and the Silver versions behind it), and status."""
    served = [
        ServedModel(
            task=task,
            name=slot.name,
            aliases=dict(slot.registry),
            serving={alias: model.describe() for alias, model in slot.held().items()},
            status=slot.status(),
        )
        for task, slot in state.holder.slots.items()
    ]
    serve = state.settings.serve
    return ModelsResponse(
        models=served,
        canary_share=serve.canary_share,
        shadow=serve.shadow,
        features=state.features.status(),
    )
