"""``POST /v1/fraud/score``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from lakehouse.api_keys import PREDICT
from serving.auth import require
from serving.deps import FraudDep
from serving.routing import OrjsonResponse, OrjsonRoute
from serving.schemas.common import AUTH_RESPONSES, ERROR_RESPONSES
from serving.schemas.examples import TRANSACTION_EXAMPLE
from serving.schemas.fraud import FraudBatchResponse, FraudResponse, Transaction

router = APIRouter(
    prefix="/v1/fraud",
    tags=["fraud"],
    route_class=OrjsonRoute,
    dependencies=[Depends(require(PREDICT))],
    responses=AUTH_RESPONSES,
)


@router.post("/score", response_model=FraudResponse | FraudBatchResponse, responses=ERROR_RESPONSES)
async def score(
    request: Request,
    body: Annotated[
        Transaction | list[Transaction],
        Body(examples=[TRANSACTION_EXAMPLE, [TRANSACTION_EXAMPLE]]),
    ],
    service: FraudDep,
) -> OrjsonResponse:
    """Fraud probability and decision for a transaction (or a list), enriched online with the
    accounts' attributes and risk flags as of the transaction and the service's velocity
    state. Each scored transaction then counts in the velocity of later ones.
    """
    return OrjsonResponse(await service.score_transactions(await request.json()))
