"""The lakehouse's schedules as Airflow DAGs (Airflow 3 and the Apache Spark provider).

- ``lakehouse_hourly`` (at :05): ingest -> silver -> gold -> check
- ``lakehouse_daily`` (at 01:40): per model, retrain (the retraining policy: train and the
  promotion gate when it calls for it) -> score
- ``lakehouse_weekly`` (Sunday 05:20): maintain (OPTIMIZE and VACUUM)

Every task is one ``jobs/<name>.py`` launched by ``infra/spark-submit.sh`` (the pinned jars, the
package shipped to the executors) through the provider's ``SparkSubmitOperator``, in client
mode: the driver runs on the Airflow worker, so the worker needs the project installed, as a
checkout after ``make setup`` or the job image (``infra/docker/jobs.Dockerfile``). This file
imports only Airflow: the scheduler's environment (``make airflow``) does not hold the project.

Where things are, from the environment of the scheduler and the workers:

- ``LAKEHOUSE_HOME``: the project (default ``/app``, the job image's); its ``infra/spark-submit.sh``
  and ``jobs/``.
- ``LAKEHOUSE_SPARK_CONN_ID``: the Airflow connection of the Spark master (default
  ``spark_default``), e.g. ``AIRFLOW_CONN_SPARK_DEFAULT=spark://spark-master:7077``.
- ``LAKEHOUSE_SPARK_CONF``: a JSON object of Spark settings for every job (executor sizes,
  shuffle partitions), e.g. ``{"spark.executor.memory": "8g"}``.
- ``LAKEHOUSE_LOCK_WAIT_S``: how long a job waits for the lake's writer lock (default 600).
- ``LAKEHOUSE_NODE_JARS``: where every Spark node holds the pinned jars (the job image sets
  ``/app/.jars``, so nodes of another image need them there too); the executors read them in
  place instead of each copying about 690 MB per task.
- The jobs read the rest themselves (README, "Running on a cluster"): ``LAKEHOUSE_LAKE``,
  ``LAKEHOUSE_LANDING``, ``LAKEHOUSE_ENV``, ``LAKEHOUSE_SET`` and, outside ``local``, the secrets
  named in the configuration (from AWS Secrets Manager).

Reruns are safe: every command is idempotent (a file is ingested once, Silver merges, Gold is
rebuilt only when a source changed, scoring unchanged input writes nothing). Writers take the
lake's lock: a task that finds it held (the hourly pipeline and the daily scoring can meet)
waits for it up to ``LAKEHOUSE_LOCK_WAIT_S`` (600 s), then exits 75 and is retried with
backoff. The exit codes
that a retry cannot change (bad configuration, a failed data-quality gate, a missing secret)
fail the task at once, and a promotion the gate refuses (exit code 3) is skipped: the
champion stays and scoring goes on with it. ``jobs/train_<model>.py`` and
``jobs/promote_<model>.py`` stay for a retrain by hand, outside the policy.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, TriggerRule
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

HOME = Path(os.environ.get("LAKEHOUSE_HOME", "/app"))
CONN_ID = os.environ.get("LAKEHOUSE_SPARK_CONN_ID", "spark_default")


def spark_conf(raw: str) -> dict[str, str]:
    """``LAKEHOUSE_SPARK_CONF``: a JSON object of Spark settings to strings (or numbers, or
    booleans, written as Spark reads them). Anything else stops the DAGs' import with a message
    naming the variable (Airflow shows it as the file's import error)."""
    try:
        conf = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"LAKEHOUSE_SPARK_CONF is not JSON ({exc.msg})") from None
    if not isinstance(conf, dict) or not all(
        isinstance(v, str | int | float) for v in conf.values()
    ):
        raise ValueError(
            "LAKEHOUSE_SPARK_CONF must be a JSON object of Spark settings to values, e.g. "
            '{"spark.executor.memory": "8g"}'
        )
    return {key: json.dumps(v) if isinstance(v, bool) else str(v) for key, v in conf.items()}


SPARK_CONF = spark_conf(os.environ.get("LAKEHOUSE_SPARK_CONF") or "{}")
# how long a job waits for the lake's writer lock (held by another DAG's job) before it exits 75
# and Airflow retries it with backoff
LOCK_WAIT_S = os.environ.get("LAKEHOUSE_LOCK_WAIT_S") or "600"
if not re.fullmatch(r"[0-9]+", LOCK_WAIT_S):
    raise ValueError(f"LAKEHOUSE_LOCK_WAIT_S must be a whole number of seconds: {LOCK_WAIT_S!r}")

# `lakehouse` exit codes (lakehouse/errors.py; a test keeps them equal): what a retry cannot
# change fails at once, a refused promotion is an outcome
EXIT_USAGE = 2
EXIT_PROMOTION_REFUSED = 3
EXIT_DATA_QUALITY = 65
EXIT_SECRET = 78
FINAL = {
    EXIT_USAGE: "bad command line or configuration",
    EXIT_DATA_QUALITY: "the data failed a quality gate",
    EXIT_SECRET: "a secret is missing or unreadable",
}

DEFAULT_ARGS = {
    "owner": "lakehouse",
    "retries": 3,  # exit 75 (lake held by another run), a lost executor, a storage hiccup
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=20),
    "execution_timeout": timedelta(minutes=45),
}
# the same tasks, each run at most once at a time, never a backlog of missed intervals
COMMON = {
    "start_date": datetime(2026, 1, 1),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
    "tags": ["lakehouse"],
}


class LakehouseJob(SparkSubmitOperator):
    """``infra/spark-submit.sh jobs/<job>.py <args>`` on the connection's master, with the
    ``lakehouse`` exit codes mapped to Airflow's outcomes (fail now, skip, or retry)."""

    def __init__(self, *, job: str, args: list[str] | None = None, **kwargs) -> None:
        super().__init__(
            task_id=kwargs.pop("task_id", job),
            application=str(HOME / "jobs" / f"{job}.py"),
            # queue behind another DAG's writer rather than fail and back off at once
            application_args=["--set", f"lock.wait_s={LOCK_WAIT_S}", *(args or [])],
            spark_binary=str(HOME / "infra" / "spark-submit.sh"),
            conn_id=CONN_ID,
            conf=dict(SPARK_CONF),
            name=f"lakehouse-{job}",
            # the driver here, so spark-submit ends with the job and its exit code is the
            # job's (a cluster-mode submit would return at once, and 0)
            deploy_mode="client",
            **kwargs,
        )

    def exit_code(self) -> int | None:
        """The spark-submit process's exit code (the job's), once it has ended."""
        process = getattr(getattr(self, "_hook", None), "_submit_sp", None)
        return None if process is None else process.returncode

    def execute(self, context) -> None:
        self._hook = None  # a new submit each try: never the previous try's exit code
        try:
            super().execute(context)
        except Exception as exc:
            code = self.exit_code()
            if code == EXIT_PROMOTION_REFUSED and self.task_id.startswith(("promote", "retrain")):
                raise AirflowSkipException(
                    "the promotion gate refused the challenger: the champion stays"
                ) from exc
            if code in FINAL:
                raise AirflowFailException(
                    f"{self.task_id} exited with {code} ({FINAL[code]}): a retry would fail "
                    "the same way; see its log and `lakehouse report`"
                ) from exc
            raise


with DAG(
    "lakehouse_hourly",
    description="Landing -> Bronze -> Silver -> Gold, then the lake check",
    schedule="5 * * * *",
    dagrun_timeout=timedelta(minutes=55),  # before the next hour's run is due
    **COMMON,
) as hourly:
    (
        LakehouseJob(job="ingest")
        >> LakehouseJob(job="silver")
        >> LakehouseJob(job="gold")
        >> LakehouseJob(job="check", execution_timeout=timedelta(minutes=15))
    )


with DAG(
    "lakehouse_daily",
    description="Per model: the retraining policy (a challenger and the gate), batch scores",
    schedule="40 1 * * *",
    dagrun_timeout=timedelta(hours=6),
    **COMMON,
) as daily:
    for model in ("delivery", "fraud"):
        (
            # retrains when there is no champion, the newest rows drifted or the champion's live
            # performance fell below its baseline; then the gate (a refusal exits 3: skipped)
            LakehouseJob(job=f"retrain_{model}", execution_timeout=timedelta(hours=2, minutes=30))
            # scores with the champion, promoted now or not
            >> LakehouseJob(
                job=f"score_{model}",
                execution_timeout=timedelta(hours=1),
                trigger_rule=TriggerRule.NONE_FAILED,
            )
        )


with DAG(
    "lakehouse_weekly",
    description="OPTIMIZE and VACUUM every table, keeping what aliased models need",
    schedule="20 5 * * 0",
    dagrun_timeout=timedelta(hours=8),
    **COMMON,
) as weekly:
    LakehouseJob(job="maintain", execution_timeout=timedelta(hours=4))
