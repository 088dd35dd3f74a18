"""The example request records: one checkout document and one payment transaction.

Their one definition: the OpenAPI examples (``serving.schemas``, ``serving.routes``) and the
service's tests (``tests/serving/conftest.py`` moves them into the test lake's domain) start
from these. Take a copy (``example_checkout``, ``example_transaction``) before changing one.
"""

from __future__ import annotations

import copy
from typing import Any

CHECKOUT_EXAMPLE: dict[str, Any] = {
    "id": "0b541211-6f65-4b6e-bb0c-ded5ad3e78c7",
    "sessionId": "7f0c2a4e-1d7e-4c8e-9d1b-3f1f0e7a2b11",
    "createdDateTime": 1731880381293,
    "eventType": "CHECKOUT_COMPLETED",
    "customer": {"customerId": "C-104233", "loyaltyTier": "GOLD"},
    "device": {"type": "MOBILE", "os": "iOS", "appVersion": "5.2.1"},
    "cart": {
        "currency": "USD",
        "items": [
            {
                "sku": "SKU-000123",
                "category": "toys",
                "quantity": 2,
                "unitPrice": 19.99,
                "weightKg": 0.4,
            }
        ],
    },
    "shipping": {
        "method": "STANDARD",
        "carrier": "UPS",
        "warehouseId": "WH-07",
        "promisedDeliveryDate": "2024-11-21",
        "address": {"city": "Portland", "state": "OR", "zipCode": "97201", "country": "US"},
    },
}

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
