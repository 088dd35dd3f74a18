"""``POST /v1/delivery/predict``: checkout documents in, delivery days and date out."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas.common import ModelRef
from serving.schemas.examples import CHECKOUT_EXAMPLE


class CheckoutDocument(BaseModel):
    """A checkout as Elasticsearch exports it (CONTRACT 1.1): a bare `_source` document or a
    hit wrapping one (`{"_index", "_id", "_source"}`).

    Fields may be missing and unknown extra fields may appear at any level.

    The validator is the online twin of Bronze and Silver
    (`lakehouse.features.delivery_online.checkout_features`), not this model: a document the
    lake would quarantine is answered with 422 naming the field and Silver's reason code (e.g.
    `invalid_cart_item`; an unreadable zip code or date only warns there, and is scored as
    null). So every field here is typed `Any` on purpose, and the route hands the
    twin the JSON as sent: a pydantic type would turn some of those into a pydantic error
    instead of Silver's code, or refuse what the batch pipeline accepts. `createdDateTime`
    may be epoch milliseconds or seconds, a numeric string or ISO-8601; a zip code may be a
    number that lost its leading zero; the objects are checked item by item by the twin. The
    descriptions say what the lake expects.
    """

    model_config = ConfigDict(
        extra="allow", populate_by_name=True, json_schema_extra={"examples": [CHECKOUT_EXAMPLE]}
    )

    id: Any = Field(None, description="Record id (falls back to the hit's `_id`)")
    session_id: Any = Field(None, alias="sessionId")
    created: Any = Field(
        None,
        alias="createdDateTime",
        description="Epoch ms (or s below 1e11), numeric string or ISO-8601, UTC",
    )
    event_type: Any = Field(None, alias="eventType", description="Must be CHECKOUT_COMPLETED")
    customer: Any = Field(None, description="Customer object (PII is ignored, never logged)")
    device: Any = None
    cart: Any = Field(None, description="`{currency, items: [{quantity, unitPrice, weightKg}]}`")
    shipping: Any = Field(
        None, description="`{method, carrier, warehouseId, promisedDeliveryDate, address}`"
    )
    delivery: Any = None
    index: Any = Field(None, alias="_index", description="Hit wrapper: index name")
    hit_id: Any = Field(None, alias="_id", description="Hit wrapper: document id")
    score: Any = Field(None, alias="_score", description="Hit wrapper: score")
    source: Any = Field(None, alias="_source", description="Hit wrapper: the document")


class DeliveryPrediction(BaseModel):
    """The prediction for one checkout."""

    record_id: str | None
    order_date: date = Field(description="The checkout's date, UTC")
    predicted_delivery_days: float = Field(description="Calendar days from order to delivery")
    predicted_delivery_date: date = Field(
        description="order_date + predicted days, rounded half up, never before the order"
    )


class DeliveryResponse(DeliveryPrediction):
    """The answer to one checkout document."""

    model: ModelRef


class DeliveryBatchResponse(BaseModel):
    """The answer to a list of checkout documents, in request order."""

    model: ModelRef
    predictions: list[DeliveryPrediction]
