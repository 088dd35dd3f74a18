"""MLflow set-up: where runs, artifacts and the registry live; code and config lineage."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from mlflow.tracking import MlflowClient

from lakehouse.config import PROJECT_ROOT, ConfigError, Settings, join_uri
from lakehouse.secrets import tracking_db_password, with_password

log = logging.getLogger(__name__)

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
GIT_COMMIT_ENV = "LAKEHOUSE_GIT_COMMIT"
MLFLOW_FOLDER = "_mlflow"


def tracking_uri(settings: Settings) -> str:
    """``MLFLOW_TRACKING_URI`` when set (CONTRACT 3), else ``ml.tracking_uri``, else a SQLite
    store beside the lake, so that one lake carries its own runs and registry.

    A database URI (``postgresql://user@host/db``) gets the password of
    ``secrets.tracking_db_password`` here, at connect time: the URI with it is never logged
    (``lakehouse.secrets.redact_uri`` for messages).
    """
    uri = os.environ.get(TRACKING_URI_ENV) or settings.ml.tracking_uri
    if uri:
        return with_password(uri, tracking_db_password(settings))
    if "://" in settings.lake_root:
        raise ConfigError(
            f"the lake {settings.lake_root} is not a local folder: set {TRACKING_URI_ENV} "
            "or ml.tracking_uri to an MLflow tracking server"
        )
    folder = Path(join_uri(settings.lake_root, MLFLOW_FOLDER))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def artifact_root(settings: Settings) -> str | None:
    """Where new experiments keep artifacts; None lets a tracking server decide."""
    if settings.ml.artifact_root:
        return settings.ml.artifact_root
    if os.environ.get(TRACKING_URI_ENV) or settings.ml.tracking_uri:
        return None
    return Path(join_uri(settings.lake_root, MLFLOW_FOLDER, "artifacts")).as_uri()


def client_for(settings: Settings) -> MlflowClient:
    """Point MLflow (tracking and registry) at this configuration's store; return a client."""
    import mlflow

    uri = tracking_uri(settings)
    user_value = os.environ.get(TRACKING_URI_ENV)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI for subprocesses; leave the
    # environment as the user set it, or the next lake (or a child process) would inherit
    # this one's store
    if user_value is None:
        os.environ.pop(TRACKING_URI_ENV, None)
    else:
        os.environ[TRACKING_URI_ENV] = user_value
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(client: MlflowClient, name: str, settings: Settings) -> str:
    """The id of experiment ``name``, created with the configured artifact root if new."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=artifact_root(settings))


def git_commit() -> str:
    """The commit of the code that runs, ``+dirty`` when the tree has local changes.

    ``LAKEHOUSE_GIT_COMMIT`` wins, for images built without the ``.git`` folder.
    """
    pinned = os.environ.get(GIT_COMMIT_ENV)
    if pinned:
        return pinned
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        log.warning("no git commit found: set %s to record the code version", GIT_COMMIT_ENV)
        return "unknown"
    return f"{commit}+dirty" if dirty else commit
