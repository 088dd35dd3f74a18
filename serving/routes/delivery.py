"""``POST /v1/delivery/predict``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from lakehouse.api_keys import PREDICT
from serving.auth import require
from serving.deps import DeliveryDep
from serving.routing import OrjsonResponse, OrjsonRoute, records_body, records_openapi
from serving.schemas.common import AUTH_RESPONSES, ERROR_RESPONSES
from serving.schemas.delivery import CheckoutDocument, DeliveryBatchResponse, DeliveryResponse
from serving.schemas.examples import CHECKOUT_EXAMPLE

router = APIRouter(
    prefix="/v1/delivery",
    tags=["delivery"],
    route_class=OrjsonRoute,
    dependencies=[Depends(require(PREDICT))],
    responses=AUTH_RESPONSES,
)


@router.post(
    "/predict",
    response_model=DeliveryResponse | DeliveryBatchResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=records_openapi(CheckoutDocument, CHECKOUT_EXAMPLE),
)
async def predict(request: Request, service: DeliveryDep) -> OrjsonResponse:
    """Predicted delivery days and date for a checkout document (or a list of them).

    A list is answered with `predictions` in the same order. The answer names the model
    version and the Gold table version it was trained on.
    """
    # the features replay Bronze on the JSON as sent (key order and types included)
    return OrjsonResponse(await service.predict(await records_body(request)))
