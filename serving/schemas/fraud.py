"""``POST /v1/fraud/score``: payment transactions in, fraud probability and decision out."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lakehouse.contract import CHANNELS
from serving.schemas.common import ModelRef
from serving.schemas.examples import TRANSACTION_EXAMPLE


class Transaction(BaseModel):
    """A payment transaction with the columns of CONTRACT section 1.2 (`payment_transactions`).

    Its fields are ``lakehouse.contract.TRANSACTION_COLUMNS`` (``tests/test_contract.py``).

    Values may come as a CSV would carry them (strings) or typed (numbers). Extra fields are
    accepted and ignored. `card_number`, `ip_address` and `device_id` are accepted but never
    used nor logged (PII).

    The validator is the online twin of Silver
    (`lakehouse.silver.payments_online.parse_transaction`), not this model: a transaction the
    lake would quarantine is answered with 422 and Silver's reason code (e.g.
    `negative_amount`). So every field here is typed `Any` on purpose: the twin reads each
    value as the CSV feed would carry it (`129.9` and `"129.90"` alike, an amount arrives as
    text), and a pydantic type would answer a wrong value with a pydantic error instead of
    Silver's code, or refuse what the batch pipeline accepts. The descriptions say what the
    lake expects.
    """

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [TRANSACTION_EXAMPLE]})

    transaction_id: Any = Field(None, description="Required")
    transaction_ts: Any = Field(None, description="ISO-8601 with `Z` or an offset; required")
    source_account_id: Any = Field(None, description="Required")
    destination_account_id: Any = None
    amount: Any = Field(None, description="Decimal with `.`; required, not negative")
    currency: Any = None
    channel: Any = Field(
        None,
        description=f"Usually one of {', '.join(CHANNELS)}; another or none is scored as Silver "
        "keeps it (an unknown category to the model)",
    )
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
