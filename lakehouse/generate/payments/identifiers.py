"""Identifiers of the payment feeds: account and transaction ids, cards, devices.

Ids are a bijective scramble of a running index, so they are unique, stable for a seed, and do
not reveal the order in which accounts opened or transactions happened.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lakehouse.generate.payments.formats import HEX_BASE, fixed_width

ACCOUNT_ID_PREFIX = "AC"
ACCOUNT_ID_DIGITS = 8
ACCOUNT_NUMBER_MODULUS = 10**ACCOUNT_ID_DIGITS
# Coprime with the modulus (odd, not a multiple of 5), so the scramble is a bijection.
ACCOUNT_NUMBER_MULTIPLIER = 48_271_173
ACCOUNT_NUMBER_OFFSET = 13_579_246
TRANSACTION_ID_PREFIX = "tx"
TRANSACTION_ID_HEX_DIGITS = 12
TRANSACTION_ID_MODULUS = HEX_BASE**TRANSACTION_ID_HEX_DIGITS
TRANSACTION_ID_MULTIPLIER = 0x9E37_79B9_7F4B  # odd: a bijection modulo a power of two
TRANSACTION_ID_OFFSET = 0x2545_F491_4F6C
DEVICE_ID_PREFIX = "dev-"
DEVICE_ID_HEX_DIGITS = 8
DEVICE_ID_SPACE = HEX_BASE**DEVICE_ID_HEX_DIGITS
CARD_PREFIX_DIGIT = 4  # Visa-style numbers
CARD_DIGITS = 16
CARD_PAYLOAD_DIGITS = CARD_DIGITS - 2  # between the prefix digit and the check digit
DECIMAL_BASE = 10
LUHN_DOUBLED_OVER = 9


def account_numbers(index: np.ndarray) -> np.ndarray:
    """The account number of each account index (also defined for indices of unknown accounts)."""
    index = np.asarray(index, dtype=np.int64)
    if len(index) and (index.min() < 0 or index.max() >= ACCOUNT_NUMBER_MODULUS):
        raise ValueError("account index out of range")
    return (index * ACCOUNT_NUMBER_MULTIPLIER + ACCOUNT_NUMBER_OFFSET) % ACCOUNT_NUMBER_MODULUS


def account_ids(index: np.ndarray) -> pa.StringArray:
    """``AC`` followed by eight digits."""
    numbers = account_numbers(index)
    return fixed_width([ACCOUNT_ID_PREFIX, (numbers, ACCOUNT_ID_DIGITS)], len(numbers))


def transaction_numbers(index: np.ndarray) -> np.ndarray:
    """The 48-bit number behind each transaction id."""
    index = np.asarray(index, dtype=np.uint64)
    scrambled = index * np.uint64(TRANSACTION_ID_MULTIPLIER) + np.uint64(TRANSACTION_ID_OFFSET)
    return (scrambled % np.uint64(TRANSACTION_ID_MODULUS)).astype(np.int64)


def transaction_ids(index: np.ndarray) -> pa.StringArray:
    """``tx`` followed by twelve hex digits."""
    numbers = transaction_numbers(index)
    parts = [TRANSACTION_ID_PREFIX, (numbers, TRANSACTION_ID_HEX_DIGITS, HEX_BASE)]
    return fixed_width(parts, len(numbers))


def device_ids(devices: np.ndarray) -> pa.StringArray:
    """``dev-`` followed by eight hex digits."""
    devices = np.asarray(devices, dtype=np.int64)
    return fixed_width([DEVICE_ID_PREFIX, (devices, DEVICE_ID_HEX_DIGITS, HEX_BASE)], len(devices))


def luhn_check_digits(payload: np.ndarray, digits: int) -> np.ndarray:
    """Check digit that makes ``payload`` followed by it pass the Luhn test."""
    payload = np.asarray(payload, dtype=np.int64)
    total = np.zeros(len(payload), dtype=np.int64)
    rest = payload.copy()
    for position in range(digits):  # from the right; the digit next to the check is doubled
        digit = rest % DECIMAL_BASE
        rest //= DECIMAL_BASE
        if position % 2 == 0:
            digit = digit * 2
            digit = np.where(digit > LUHN_DOUBLED_OVER, digit - LUHN_DOUBLED_OVER, digit)
        total += digit
    return (DECIMAL_BASE - total % DECIMAL_BASE) % DECIMAL_BASE


def draw_card_numbers(rng: np.random.Generator, size: int) -> np.ndarray:
    """Luhn-valid 16-digit card numbers (as integers) starting with 4."""
    payload = rng.integers(0, DECIMAL_BASE**CARD_PAYLOAD_DIGITS, size, dtype=np.int64)
    payload += CARD_PREFIX_DIGIT * DECIMAL_BASE**CARD_PAYLOAD_DIGITS
    return payload * DECIMAL_BASE + luhn_check_digits(payload, CARD_DIGITS - 1)
