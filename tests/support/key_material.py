"""Looking for a secret key in text that Spark wrote (plans, event logs): every form it can take."""

from __future__ import annotations

import base64

from lakehouse.privacy import _padded_keys, raw_zone_key

EXPLAIN_MODES = ("extended", "formatted", "cost", "codegen")


def key_forms(key: bytes) -> dict[str, str]:
    """The key as it could be printed: raw, hex and base64, itself, the HMAC's padded keys
    (whole, and the part that differs from the padding) and the raw zones' key derived from it.
    Lower-case, for a lower-cased search."""
    inner, outer = _padded_keys(key)
    binaries = {
        "key": key,
        "raw zone key": raw_zone_key(key),
        "inner padded key": inner,
        "outer padded key": outer,
        "inner key part": inner[: len(key)],
        "outer key part": outer[: len(key)],
    }
    forms = {"raw key": key.decode("latin-1").lower()}
    for name, value in binaries.items():
        forms[f"{name} (hex)"] = value.hex()
        forms[f"{name} (base64)"] = base64.b64encode(value).decode().lower()
    return forms


def leaks(text: str, key: bytes) -> list[str]:
    """The forms of ``key`` found in ``text``."""
    haystack = text.lower()
    return [name for name, form in key_forms(key).items() if form in haystack]


def explained(df) -> str:
    """The plan of ``df`` as every ``EXPLAIN`` mode prints it."""
    jvm = df.sparkSession._jvm
    return "\n".join(
        jvm.PythonSQLUtils.explainString(df._jdf.queryExecution(), mode) for mode in EXPLAIN_MODES
    )
