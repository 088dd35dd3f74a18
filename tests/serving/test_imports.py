"""The service's own modules and the ``lakehouse.ml`` modules it reads import without Spark
(an image without pyspark can serve). ``serving.main`` joins the list once the online twins
and the Gold/Silver constants they read are pyspark-free too."""

from __future__ import annotations

import subprocess
import sys

PYSPARK_FREE = (
    "lakehouse.ml.datasets",
    "lakehouse.ml.preprocessing",
    "lakehouse.ml.profile",
    "lakehouse.ml.registry",
    "lakehouse.ml.tasks",
    "serving.drift",
    "serving.fastpath",
    "serving.metrics",
    "serving.request_log",
    "serving.routing",
    "serving.schemas.examples",
    "serving.settings",
)

# pyspark refuses to import: any module that needs it fails loudly
BLOCK_PYSPARK = """
import importlib, sys

class NoSpark:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pyspark", "py4j"):
            raise ImportError(f"{name} is blocked")

sys.meta_path.insert(0, NoSpark())
for module in sys.argv[1:]:
    importlib.import_module(module)
"""


def test_modules_the_service_reads_import_without_pyspark():
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_PYSPARK, *PYSPARK_FREE], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
