"""``POST /v1/fraud/score``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from serving.deps import FraudDep
from serving.routing import OrjsonRoute
from serving.schemas.common import ERROR_RESPONSES
from serving.schemas.fraud import (
    TRANSACTION_EXAMPLE,
    FraudBatchResponse,
    FraudResponse,
    Transaction,
)

router = APIRouter(prefix="/v1/fraud", tags=["fraud"], route_class=OrjsonRoute)


@router.post("/score", responses=ERROR_RESPONSES)
async def score(
    request: Request,
    body: Annotated[
        Transaction | list[Transaction],
        Body(examples=[TRANSACTION_EXAMPLE, [TRANSACTION_EXAMPLE]]),
    ],
    service: FraudDep,
) -> FraudResponse | FraudBatchResponse:
    """Fraud probability and decision for a transaction (or a list), enriched online with the
    accounts' attributes and risk flags as of the transaction and the service's velocity
    state. Each scored transaction then counts in the velocity of later ones.
    """
    return await service.score_transactions(await request.json())
