"""Online features: pure-Python twins of the Gold feature definitions, for the service.

Spark computes the Gold tables in batch; the prediction service computes the same features
for one request at a time with these modules. Parity tests prove both agree.
"""


class FeatureError(ValueError):
    """A request value the batch pipeline would quarantine, so no feature can be computed.

    The service answers such a request with 422 and names the field and the reason.

    Attributes:
        field: The input field at fault (a CONTRACT column name).
        reason: The Silver quarantine reason code, e.g. ``invalid_amount``.
    """

    def __init__(self, field: str, reason: str, message: str | None = None) -> None:
        self.field = field
        self.reason = reason
        super().__init__(message or f"{field}: {reason}")
