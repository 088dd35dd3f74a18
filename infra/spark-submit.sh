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

# The jars (about 690 MB, most of it the AWS SDK bundle) are read in place where a JVM has them
# on its own disk, and shipped with --jars where it does not: every executor copies shipped jars
# into its work folder, once per application.
#   - the driver (client mode) reads this checkout's .jars/;
#   - executors read LAKEHOUSE_NODE_JARS when it names the folder every node holds them in (the
#     jobs image's /app/.jars, a shared mount, a cluster on one machine); in local mode (no
#     master, or local / local[...]) the driver is the executor.
# The master is read from the command line and MASTER, as spark-submit reads them (a master set
# only in spark-defaults.conf is not seen: give it on the command line).
master="${MASTER:-}"
previous=""
for arg in "$@"; do
  case "$previous" in
    --master) master="$arg" ;;
    --conf | -c) case "$arg" in spark.master=*) master="${arg#spark.master=}" ;; esac ;;
  esac
  case "$arg" in
    --master=*) master="${arg#--master=}" ;;
    --conf=spark.master=*) master="${arg#--conf=spark.master=}" ;;
  esac
  previous="$arg"
done
# In a container with a memory limit (LAKEHOUSE_MEMORY_LIMIT_MIB, e.g. from Kubernetes' downward
# API) the driver's heap is half of it, unless the command sets it: spark-submit's default is
# 1 GiB whatever the container has, and in local mode the driver does all the work. The other
# half is for the Python driver (training reads its rows into pandas), the Python workers and
# the JVM's memory outside the heap.
memory_options=()
if [ -n "${LAKEHOUSE_MEMORY_LIMIT_MIB:-}" ]; then
  if ! [[ "$LAKEHOUSE_MEMORY_LIMIT_MIB" =~ ^[1-9][0-9]*$ ]]; then
    echo "LAKEHOUSE_MEMORY_LIMIT_MIB must be a whole number of MiB" >&2
    exit 2
  fi
  case " $* " in
    *" --driver-memory"* | *" spark.driver.memory="*) ;;
    *) memory_options=(--driver-memory "$((LAKEHOUSE_MEMORY_LIMIT_MIB / 2))m") ;;
  esac
fi

jar_options=(--driver-class-path "${jars//,/:}")
if [ -n "${LAKEHOUSE_NODE_JARS:-}" ]; then
  jar_options+=(--conf "spark.executor.extraClassPath=${LAKEHOUSE_NODE_JARS%/}/*")
elif [ -n "$master" ] && [ "$master" != local ] && [[ "$master" != "local["* ]]; then
  jar_options=(--jars "$jars")  # a cluster, or local-cluster[...] (executors of their own)
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

exec "$submit" "${jar_options[@]}" "${memory_options[@]}" --py-files "$pyzip" --conf spark.sql.session.timeZone=UTC "$@"
