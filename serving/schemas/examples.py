"""The example request records: one checkout document and one payment transaction.

Their one definition: the OpenAPI examples (``serving.schemas``, ``serving.routes``) and the
service's tests (``tests/serving/conftest.py`` moves them into the test lake's domain) start
from these. Take a copy (``example_checkout``, ``example_transaction``) before changing one.
"""

from __future__ import annotations

import copy
from typing import Any

from lakehouse.contract import SESSION_PII_FIELDS, example_session_document

# The contract's example checkout as a client sends it for a prediction: not delivered yet,
# and without the PII fields the features never read.
CHECKOUT_EXAMPLE: dict[str, Any] = example_session_document(
    without=(*SESSION_PII_FIELDS, "delivery")
)

TRANSACTION_EXAMPLE: dict[str, Any] = {
    "transaction_id": "T-000184467",
    "transaction_ts": "2024-03-02T14:05:09Z",
    "source_account_id": "A-004211",
    "destination_account_id": "A-017730",
    "amount": "129.90",
    "currency": "USD",
    "channel": "web",
    "merchant_category": "electronics",
}


def example_checkout() -> dict[str, Any]:
    """A deep copy of ``CHECKOUT_EXAMPLE``, free to change."""
    return copy.deepcopy(CHECKOUT_EXAMPLE)


def example_transaction() -> dict[str, Any]:
    """A copy of ``TRANSACTION_EXAMPLE``, free to change."""
    return copy.deepcopy(TRANSACTION_EXAMPLE)
