"""Online features for the service: the Bronze, Silver and Gold twins composed, no JVM.

Spark computes the Gold tables in batch; the prediction service computes the same features
for one request at a time. Each layer's pure-Python twin lives beside the Spark code it mirrors
(``lakehouse/{bronze,silver,gold}/*_online.py``); ``delivery_online`` and ``fraud_online`` here
compose them into the entry points the service calls and load their state from the lake
(``lakehouse.io.delta_reader``). Parity tests beside each layer's tests prove twin == Spark.
"""


class FeatureError(ValueError):
    """A request value the batch pipeline would quarantine, so no feature can be computed.

    The service answers such a request with 422 and names the field and the reason.

    Attributes:
        field: The input field at fault: a column name of CONTRACT section 1.2 for a payment,
            a path into the document of section 1.1 for a checkout (``shipping.address.zipCode``).
        reason: The Silver quarantine reason code, e.g. ``invalid_amount``.
    """

    def __init__(self, field: str, reason: str, message: str | None = None) -> None:
        self.field = field
        self.reason = reason
        super().__init__(message or f"{field}: {reason}")
