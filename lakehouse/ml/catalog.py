"""Every model task by name: ``delivery`` and ``fraud``.

Its own module (not ``training``) so that the prediction service can look tasks up without
importing the training code, MLflow or Spark.
"""

from __future__ import annotations

from lakehouse.ml import delivery, fraud
from lakehouse.ml.tasks import ModelTask

TASKS: dict[str, ModelTask] = {delivery.TASK.name: delivery.TASK, fraud.TASK.name: fraud.TASK}


def task_named(name: str) -> ModelTask:
    """The task called ``name``; ValueError for an unknown one."""
    if name not in TASKS:
        raise ValueError(f"unknown model task {name!r}: expected one of {sorted(TASKS)}")
    return TASKS[name]
