"""Silver's payment rules that are values, not columns: shared by Spark and the online twin.

No pyspark here, so that ``lakehouse.silver.payments`` (Spark) and
``lakehouse.silver.payments_online`` (the service) read one definition.
"""

from __future__ import annotations

# A plain decimal with ``.`` as separator (``12,50`` and ``1e5`` are not amounts). Timestamps
# that match it are plain numbers, which payment feeds never send as times.
AMOUNT_PATTERN = r"^-?\d+(\.\d+)?$"
AMOUNT_PRECISION, AMOUNT_SCALE = 18, 2
AMOUNT_TYPE = f"decimal({AMOUNT_PRECISION},{AMOUNT_SCALE})"
# Payment timestamps are ISO-8601: no range of numbers is epoch seconds (the plain numbers
# iso_ts rejects first; what is left, like 1e5, reads as epoch milliseconds).
NO_EPOCH_SECONDS = 0
