#!/bin/sh
# Entry point of the job image (infra/docker/jobs.Dockerfile):
#   spark-submit jobs/run.py --lake s3a://...   infra/spark-submit.sh: the pinned jars, any master
#   lakehouse run --lake s3a://...              the CLI, Spark in local mode
#   anything else                               run as given (e.g. python, bash)
set -eu
if [ "${1:-}" = "spark-submit" ]; then
  shift
  exec /app/infra/spark-submit.sh "$@"
fi
exec "$@"
