#!/usr/bin/env bash
# spark-submit with the project's pinned Delta jars (fetched by `make jars`), for any master:
#   infra/spark-submit.sh [--master spark://host:7077] jobs/run.py --lake /data/lake
# Extra spark-submit options go before the job file, job options after it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jars=$(ls "$root"/.jars/*.jar 2>/dev/null | paste -sd, -)
if [ -z "$jars" ]; then
  echo "no jars in $root/.jars: run 'make jars' first" >&2
  exit 2
fi
submit="${SPARK_SUBMIT:-$root/.venv/bin/spark-submit}"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$root/.venv/bin/python}"
exec "$submit" --jars "$jars" --conf spark.sql.session.timeZone=UTC "$@"
