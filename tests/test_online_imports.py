"""The online path (twins, contract, Spark semantics, the JVM-free reader) loads no pyspark.

The prediction service imports these modules; pyspark there would mean a JVM dependency and
seconds of start-up for nothing. Checked in a fresh interpreter, where nothing is loaded yet.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ONLINE_MODULES = [
    "lakehouse.contract",
    "lakehouse.spark_semantics",
    "lakehouse.io.delta_reader",
    "lakehouse.bronze.sessions_online",
    "lakehouse.silver.normalize_online",
    "lakehouse.silver.sessions_online",
    "lakehouse.silver.sessions_rules",
    "lakehouse.silver.payments_online",
    "lakehouse.silver.payments_rules",
    "lakehouse.gold.delivery_online",
    "lakehouse.gold.delivery_rules",
    "lakehouse.gold.payments_online",
    "lakehouse.features",
    "lakehouse.features.delivery_online",
    "lakehouse.features.fraud_online",
    "lakehouse.generate",
]
PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(sorted(m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")))
"""


def pyspark_modules_after_importing(modules: list[str]) -> str:
    """The pyspark modules loaded in a fresh interpreter after importing ``modules``."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_online_modules_import_no_pyspark():
    assert pyspark_modules_after_importing(ONLINE_MODULES) == "[]"


def test_the_probe_sees_pyspark_when_it_is_loaded():
    """The check itself can fail: a Spark module does load pyspark."""
    assert "'pyspark'" in pyspark_modules_after_importing(["lakehouse.silver.normalize"])
