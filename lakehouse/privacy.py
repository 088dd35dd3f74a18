"""PII tokenization with a keyed HMAC (HMAC-SHA256, RFC 2104).

The same raw value always gets the same token under one key, so joins and distinct counts keep
working on tokens, while nobody without the key can recompute or dictionary-attack them.
The Spark version is built from Spark's own ``sha2`` and binary ``concat`` (no Python UDF);
``token_of`` is the pure-Python twin that the service uses, and a test proves they agree.

The key never enters a Spark plan as a literal: a literal is printed by ``EXPLAIN``, the SQL tab
of the Spark UI and the event log. ``with_token_key`` joins the padded keys in as the columns of
a one-row frame instead, which plans show by column name only.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Settings
from lakehouse.secrets import hmac_key
from lakehouse.silver.normalize import strip_control
from lakehouse.silver.normalize_online import strip_control_py

_BLOCK_SIZE = 64  # SHA-256 block size in bytes
_IPAD, _OPAD = 0x36, 0x5C


def resolve_key(settings: Settings) -> bytes:
    """The HMAC key of this configuration: Secrets Manager, or in ``local`` a setting, the
    environment or the development key (``lakehouse.secrets.hmac_key`` has the rules)."""
    return hmac_key(settings)


def _padded_keys(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK_SIZE, b"\0")
    return bytes(b ^ _IPAD for b in key), bytes(b ^ _OPAD for b in key)


# The padded keys' columns that ``with_token_key`` adds and ``hmac_token`` reads.
INNER_KEY_COLUMN = "_token_inner_key"
OUTER_KEY_COLUMN = "_token_outer_key"


def with_token_key(df: DataFrame, key: bytes) -> DataFrame:
    """``df`` with the padded forms of ``key`` as two columns, for ``hmac_token``.

    They come from a broadcast one-row frame built from Python data (an RDD scan in the plan), so
    the key is data that tasks read, not a literal that plans print. Select the output columns
    afterwards: the key columns must not be written anywhere.
    """
    inner_key, outer_key = _padded_keys(key)
    keys = df.sparkSession.createDataFrame(
        [(inner_key, outer_key)], f"{INNER_KEY_COLUMN} binary, {OUTER_KEY_COLUMN} binary"
    )
    return df.crossJoin(F.broadcast(keys))


def hmac_token(value: Column) -> Column:
    """HMAC-SHA256 of a string column as 64 hex characters; null stays null.

    The frame must carry the key's columns (``with_token_key``).
    """
    inner = F.unhex(F.sha2(F.concat(F.col(INNER_KEY_COLUMN), value.cast("binary")), 256))
    return F.when(value.isNotNull(), F.sha2(F.concat(F.col(OUTER_KEY_COLUMN), inner), 256))


def token_of(value: str | None, key: bytes) -> str | None:
    """Python twin of ``hmac_token``."""
    if value is None:
        return None
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


# Normalisation before hashing, so that " Jane@Example.com" and "jane@example.com" match.
def normalize_email(value: Column) -> Column:
    """Trimmed, lower-cased e-mail without control characters; empty becomes null."""
    cleaned = F.lower(F.trim(strip_control(value)))
    return F.when(cleaned != "", cleaned)


def normalize_phone(value: Column) -> Column:
    """Digits only (a leading + kept); empty becomes null."""
    cleaned = F.regexp_replace(F.trim(value), r"[^0-9+]", "")
    return F.when(cleaned != "", cleaned)


def normalize_text(value: Column) -> Column:
    """Trimmed value without control characters; empty becomes null."""
    cleaned = F.trim(strip_control(value))
    return F.when(cleaned != "", cleaned)


def normalize_email_py(value: str | None) -> str | None:
    """Python twin of ``normalize_email``."""
    cleaned = strip_control_py(value or "").strip().lower()
    return cleaned or None


def normalize_phone_py(value: str | None) -> str | None:
    """Python twin of ``normalize_phone``."""
    cleaned = re.sub(r"[^0-9+]", "", (value or "").strip())
    return cleaned or None
