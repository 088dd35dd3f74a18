"""Silver's session rules that are values, not columns: shared by Spark and the online twin.

No pyspark here, so that ``lakehouse.silver.sessions`` (Spark) and
``lakehouse.silver.sessions_online`` (the service) read one definition.
"""

from __future__ import annotations

from lakehouse.spark_semantics import INT32_MAX

# Silver reads unit prices as MONEY, decimal(12,2) (``lakehouse.silver.schemas.MONEY``).
MONEY_PRECISION, MONEY_SCALE = 12, 2
# Units in a cart add up to Gold's item_count, an int: more is quarantined.
MAX_CART_UNITS = INT32_MAX
