"""PII tokenization with a keyed HMAC (HMAC-SHA256, RFC 2104).

The same raw value always gets the same token under one key, so joins and distinct counts keep
working on tokens, while nobody without the key can recompute or dictionary-attack them.
The Spark version is built from Spark's own ``sha2`` and binary ``concat`` (no Python UDF);
``token_of`` is the pure-Python twin that the service uses, and a test proves they agree.

The raw zones (Bronze and quarantine) keep the personal fields of each record encrypted with
AES-256-GCM under a key derived from the same secret (``raw_zone_key``): ``encrypted`` and
``revealed`` are Spark's own ``aes_encrypt``/``aes_decrypt``, ``reveal_py`` their Python twin. A
ciphertext is stored as text, ``ENCRYPTED_PREFIX`` + base64(12-byte IV, ciphertext, 16-byte tag);
a value without the prefix (written before encryption existed) is read as it is.

No key ever enters a Spark plan as a literal: a literal is printed by ``EXPLAIN``, the SQL tab
of the Spark UI and the event log. ``with_token_key`` joins the keys in as the columns of a
one-row frame instead, which plans show by column name only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyspark.sql import Column, DataFrame, SparkSession
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


# The key columns that ``with_token_key`` adds: the padded keys ``hmac_token`` reads, and the
# raw zones' key that ``encrypted`` and ``revealed`` read.
INNER_KEY_COLUMN = "_token_inner_key"
OUTER_KEY_COLUMN = "_token_outer_key"
RAW_ZONE_KEY_COLUMN = "_raw_zone_key"
KEY_COLUMNS = (INNER_KEY_COLUMN, OUTER_KEY_COLUMN, RAW_ZONE_KEY_COLUMN)

# What a ciphertext of the raw zones starts with (the scheme's version, for a future rotation).
ENCRYPTED_PREFIX = "enc:v1:"
_RAW_ZONE_KEY_LABEL = b"lakehouse raw-zone encryption v1"
_IV_BYTES = 12


def raw_zone_key(key: bytes) -> bytes:
    """The AES-256 key of the raw zones, derived from the PII key (HMAC-SHA256 of a fixed label,
    the extract-free form of HKDF's expand step): one secret to keep and rotate, two keys that
    never reveal each other."""
    return hmac.new(key, _RAW_ZONE_KEY_LABEL, hashlib.sha256).digest()


def key_rows(key: bytes) -> tuple[bytes, bytes, bytes]:
    """The values of ``KEY_COLUMNS`` for the PII key ``key``."""
    return (*_padded_keys(key), raw_zone_key(key))


def key_frame(spark: SparkSession, key: bytes) -> DataFrame:
    """A one-row frame of ``KEY_COLUMNS``, built from Python data (an RDD scan in the plan), so
    the keys are data that tasks read, not literals that plans print."""
    return spark.createDataFrame(
        [key_rows(key)], ", ".join(f"{column} binary" for column in KEY_COLUMNS)
    )


def with_token_key(df: DataFrame, key: bytes) -> DataFrame:
    """``df`` with the keys derived from ``key`` as columns (``KEY_COLUMNS``), for
    ``hmac_token``, ``encrypted`` and ``revealed``.

    They are joined from a broadcast ``key_frame``. Select the output columns afterwards (or
    ``without_keys``): the key columns must not be written anywhere.
    """
    return df.crossJoin(F.broadcast(key_frame(df.sparkSession, key)))


def without_keys(df: DataFrame) -> DataFrame:
    """``df`` without the columns ``with_token_key`` added."""
    return df.drop(*KEY_COLUMNS)


def encrypted(value: Column, key: Column | None = None) -> Column:
    """A string column encrypted for the raw zones (AES-256-GCM, a random IV per value, stored
    as ``ENCRYPTED_PREFIX`` + base64); null stays null. The frame must carry the raw zones' key
    (``with_token_key``), or ``key`` names another column that holds it."""
    key = F.col(RAW_ZONE_KEY_COLUMN) if key is None else key
    sealed = F.aes_encrypt(value.cast("binary"), key, F.lit("GCM"))
    # one line whatever spark.sql.chunkBase64String.enabled says (MIME chunks of 76 by default)
    text = F.translate(F.base64(sealed), "\r\n", "")
    return F.when(value.isNotNull(), F.concat(F.lit(ENCRYPTED_PREFIX), text))


def revealed(value: Column, key: Column | None = None) -> Column:
    """The clear text of an ``encrypted`` value; a value without the prefix as it is. A value
    that does not decrypt (another key, a damaged ciphertext) stops the query with an error that
    names no value: a wrong key must never read as data."""
    key = F.col(RAW_ZONE_KEY_COLUMN) if key is None else key
    body = F.substring(value, len(ENCRYPTED_PREFIX) + 1, 1 << 30)
    opened = F.try_aes_decrypt(F.try_to_binary(body, F.lit("base64")), key, F.lit("GCM"))
    failed = F.raise_error(
        F.lit(
            "a raw-zone value does not decrypt with this configuration's key: was the PII "
            "key (secrets.hmac_key) changed, or the table written under another one?"
        )
    )
    # the decryption appears once in the expression, so it runs once a value
    return F.when(value.isNull() | ~value.startswith(ENCRYPTED_PREFIX), value).otherwise(
        F.coalesce(opened.cast("string"), failed)
    )


def with_clear(
    df: DataFrame, key: bytes, fields: Mapping[str, Column]
) -> tuple[DataFrame, dict[str, Column]]:
    """``df`` with the key columns (``with_token_key``) and the clear text of each of
    ``fields`` (``revealed``) in a column of its own; with the columns to read it from, by the
    same names. Select the wanted columns afterwards: neither keys nor clear text may be written.

    Read a decrypted value from such a column, never through ``revealed`` inline: a token and
    its normalisation read their input more than once, and Spark shares no subexpression that
    sits in a conditional branch, so inline each row was decrypted several times (1,000,000
    e-mails tokenised: 17 s inline, 6 s from a column). Spark keeps a projection of its own
    when merging it would repeat an expensive expression, so this one decrypts once a row.
    """
    columns = {name: f"_clear_{name}" for name in fields}
    keyed = with_token_key(df, key).withColumns(
        {columns[name]: revealed(value) for name, value in fields.items()}
    )
    return keyed, {name: F.col(column) for name, column in columns.items()}


def reveal_py(value: str | None, key: bytes) -> str | None:
    """Python twin of ``revealed`` (``key`` is the PII key); raises ValueError when a ciphertext
    does not decrypt."""
    if value is None or not value.startswith(ENCRYPTED_PREFIX):
        return value
    try:
        body = "".join(value[len(ENCRYPTED_PREFIX) :].split())  # line breaks of chunked base64
        sealed = base64.b64decode(body, validate=True)
        opened = AESGCM(raw_zone_key(key)).decrypt(sealed[:_IV_BYTES], sealed[_IV_BYTES:], None)
    except (ValueError, InvalidTag):
        raise ValueError("a raw-zone value does not decrypt with this key") from None
    return opened.decode()


def encrypt_py(value: str | None, key: bytes) -> str | None:
    """Python twin of ``encrypted`` (``key`` is the PII key): what a test or a tool that writes
    to a raw zone uses."""
    if value is None:
        return None
    iv = os.urandom(_IV_BYTES)
    sealed = iv + AESGCM(raw_zone_key(key)).encrypt(iv, value.encode(), None)
    return ENCRYPTED_PREFIX + base64.b64encode(sealed).decode()


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
