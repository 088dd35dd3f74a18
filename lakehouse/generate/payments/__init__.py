"""Synthetic payment CSV feeds of the landing zone (pure Python, no Spark).

Typical use::

    from lakehouse.generate.payments import generate_payments_landing

    manifest = generate_payments_landing(out, transactions=20_000, seed=42)
"""

from lakehouse.generate.payments.landing import generate_payments_landing

__all__ = ["generate_payments_landing"]
