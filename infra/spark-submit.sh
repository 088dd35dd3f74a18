#!/usr/bin/env bash
# spark-submit with the project's pinned Delta jars (fetched by `make jars`), for any master:
#   infra/spark-submit.sh [--master spark://host:7077] jobs/run.py --lake /data/lake
# Extra spark-submit options go before the job file, job options after it.
#
# The package goes with every job (--py-files build/py/lakehouse.zip, rebuilt here, or in
# LAKEHOUSE_PYFILES_DIR where the checkout is read-only, as in the jobs image), so the executors
# of a cluster whose workers do not have it installed import the same code as the driver; they
# need its dependencies (the jobs image has them). A --py-files of your own replaces this one:
# list the zip in it too. LAKEHOUSE_HOME tells the driver, which imports the zip too, where
# conf/ and .jars/ are.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jars=$(ls "$root"/.jars/*.jar 2>/dev/null | paste -sd, -)
if [ -z "$jars" ]; then
  echo "no jars in $root/.jars: run 'make jars' first" >&2
  exit 2
fi
submit="${SPARK_SUBMIT:-$root/.venv/bin/spark-submit}"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$root/.venv/bin/python}"

export LAKEHOUSE_HOME="$root"
pydir="${LAKEHOUSE_PYFILES_DIR:-$root/build/py}"
mkdir -p "$pydir"
pyzip="$pydir/lakehouse.zip"
partial=$(mktemp "$pydir/.lakehouse.XXXXXX")
"$PYSPARK_PYTHON" - "$root" "$partial" <<'PY'
import sys, zipfile
from pathlib import Path

root, target = Path(sys.argv[1]), sys.argv[2]
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
    for path in sorted((root / "lakehouse").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            archive.write(path, path.relative_to(root).as_posix())
PY
chmod 644 "$partial"
mv -f "$partial" "$pyzip"  # whole, even with another submit building it at the same time

exec "$submit" --jars "$jars" --py-files "$pyzip" --conf spark.sql.session.timeZone=UTC "$@"
