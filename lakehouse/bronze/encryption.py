"""Personal data at rest in the raw zones: Bronze and quarantine keep it encrypted.

Bronze keeps every record as it arrived, so that Silver can be rebuilt and quarantined rows
replayed; that record is full of names, e-mails, phones, addresses, card numbers and IPs. On the
way into Bronze, the raw text (``raw_record``), the personal fields of its parsed form and any
column a feed does not name (``_extra_columns``, which may hold anything) are encrypted with
AES-256-GCM (``lakehouse.privacy.encrypted``); ids, codes, amounts and times stay readable, so
counts, joins, replay's matching and the quality suites work on Bronze without the key.
Quarantine rows copy Bronze's ciphertext of the raw record as it is.

Silver decrypts the fields it tokenizes inside the query that tokenizes them
(``lakehouse.privacy.revealed``), replay decrypts the unknown columns it maps onto canonical
ones, and ``lakehouse forget`` decrypts to find a subject; nothing writes a decrypted value back
to a raw zone.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse.contract import FEED_PII_COLUMNS, SESSION_PII_FIELDS
from lakehouse.privacy import encrypted, revealed, with_token_key, without_keys

SESSIONS = "sessions"
RAW_RECORD = "raw_record"
EXTRA_COLUMNS = "_extra_columns"

# The parsed fields each raw-zone table keeps encrypted, beside the raw record itself (and, for
# the payment feeds, the values of ``_extra_columns``).
PII_COLUMNS: dict[str, tuple[str, ...]] = {
    SESSIONS: tuple(f"source.{field}" for field in SESSION_PII_FIELDS),
    **FEED_PII_COLUMNS,
}


def encrypted_columns(source: str) -> tuple[str, ...]:
    """Every column (a nested field as a dotted path) that ``source``'s Bronze rows keep
    encrypted; ``_extra_columns`` means its values."""
    extra = () if source == SESSIONS else (EXTRA_COLUMNS,)
    return (*PII_COLUMNS.get(source, ()), RAW_RECORD, *extra)


def _rebuilt(column: Column, data_type: StructType, paths: dict, seal) -> Column:
    """The struct ``column`` with ``seal`` applied to the fields ``paths`` names (a nested
    dict: field -> True, or the paths inside it); null stays null.

    Built field by field rather than with ``Column.withField``: six nested ``withField`` on the
    session document generated a method beyond the JVM's 64 KB limit, and Spark fell back to
    interpreting the whole stage (40 times slower at 100,000 documents)."""
    fields = []
    for f in data_type.fields:
        spec, value = paths.get(f.name), column[f.name]
        if spec is True:
            value = seal(value)
        elif spec:
            value = _rebuilt(value, f.dataType, spec, seal)
        fields.append(value.alias(f.name))
    return F.when(column.isNotNull(), F.struct(*fields))


def _apply(df: DataFrame, source: str, seal) -> DataFrame:
    """``df`` with ``seal`` applied to each of ``source``'s encrypted columns."""
    nested: dict[str, dict] = {}
    plain = {}
    for path in encrypted_columns(source):
        top, *inner = path.split(".")
        if top not in df.columns:
            continue
        if inner:
            node = nested.setdefault(top, {})
            for name in inner[:-1]:
                node = node.setdefault(name, {})
            node[inner[-1]] = True
        elif path == EXTRA_COLUMNS:
            plain[top] = F.transform_values(F.col(top), lambda _k, v: seal(v))
        else:
            plain[top] = seal(F.col(top))
    for top, paths in nested.items():
        plain[top] = _rebuilt(F.col(top), df.schema[top].dataType, paths, seal)
    return df.withColumns(plain)


def encrypt_raw(df: DataFrame, source: str, key: bytes) -> DataFrame:
    """Bronze rows of ``source`` (clear, as the transforms make them) with their personal data
    encrypted, ready to write. ``key`` is the PII key; the column order is kept."""
    sealed = _apply(with_token_key(df, key), source, encrypted)
    return without_keys(sealed).select(*df.columns)


def reveal_raw(df: DataFrame, source: str, key: bytes) -> DataFrame:
    """Rows read from a raw zone with their encrypted columns in clear text again, for the
    jobs that must read them (never to be written back). ``key`` is the PII key."""
    opened = _apply(with_token_key(df, key), source, revealed)
    return without_keys(opened).select(*df.columns)
