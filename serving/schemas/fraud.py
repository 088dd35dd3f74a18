"""``POST /v1/fraud/score``: payment transactions in, fraud probability and decision out."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas.common import ModelRef

TRANSACTION_EXAMPLE = {
    "transaction_id": "T-000184467",
    "transaction_ts": "2024-03-02T14:05:09Z",
    "source_account_id": "A-004211",
    "destination_account_id": "A-017730",
    "amount": "129.90",
    "currency": "USD",
    "channel": "web",
    "merchant_category": "electronics",
}


class Transaction(BaseModel):
    """A payment transaction with the columns of CONTRACT 1.2 (`payment_transactions`).

    Values may come as a CSV would carry them (strings) or typed (numbers); they are checked
    by Silver's rules (a transaction the lake would quarantine is answered with 422 and
    Silver's reason code). Extra fields are accepted and ignored. `card_number`, `ip_address`
    and `device_id` are accepted but never used nor logged (PII).
    """

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [TRANSACTION_EXAMPLE]})

    transaction_id: Any = Field(None, description="Required")
    transaction_ts: Any = Field(None, description="ISO-8601 with `Z` or an offset; required")
    source_account_id: Any = Field(None, description="Required")
    destination_account_id: Any = None
    amount: Any = Field(None, description="Decimal with `.`; required, not negative")
    currency: Any = None
    channel: Any = Field(None, description="web, mobile, pos or api; required")
    merchant_category: Any = None
    card_number: Any = Field(None, description="PII: ignored")
    ip_address: Any = Field(None, description="PII: ignored")
    device_id: Any = None


class FraudScore(BaseModel):
    """The score of one transaction."""

    transaction_id: str
    fraud_probability: float = Field(ge=0, le=1)
    is_fraud: bool = Field(description="fraud_probability >= threshold")
    threshold: float = Field(description="The model version's decision threshold")


class FraudResponse(FraudScore):
    """The answer to one transaction."""

    model: ModelRef


class FraudBatchResponse(BaseModel):
    """The answer to a list of transactions, in request order."""

    model: ModelRef
    scores: list[FraudScore]
