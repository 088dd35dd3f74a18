"""Synthetic landing zone: Elasticsearch session exports and reference data (pure Python).

Typical use::

    from lakehouse.generate import generate_sessions_landing, holiday_years, write_reference_data

    generate_sessions_landing(out, documents=20_000, seed=42)
    write_reference_data(out, seed=42, years=holiday_years(date(2024, 1, 1), 365))
"""

from lakehouse.generate.landing import generate_sessions_landing
from lakehouse.generate.payments import generate_payments_landing as generate_payments_landing
from lakehouse.generate.reference import write_reference_data
from lakehouse.generate.world import holiday_years

__all__ = ["generate_sessions_landing", "holiday_years", "write_reference_data"]
