"""``POST /v1/fraud/score``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from lakehouse.api_keys import PREDICT
from serving.auth import require
from serving.deps import FraudDep
from serving.routing import OrjsonResponse, OrjsonRoute, records_body, records_openapi
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


@router.post(
    "/score",
    response_model=FraudResponse | FraudBatchResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=records_openapi(Transaction, TRANSACTION_EXAMPLE),
)
async def score(request: Request, service: FraudDep) -> OrjsonResponse:
    """Fraud probability and decision for a transaction (or a list), enriched online with the
    accounts' attributes and risk flags as of the transaction and the service's velocity
    state. Each scored transaction then counts in the velocity of later ones.
    """
    return OrjsonResponse(await service.score_transactions(await records_body(request)))
