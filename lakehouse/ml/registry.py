"""The model registry: lineage tags, aliases and the champion's history.

Aliases (``champion``, ``challenger``), never the deprecated stages. The registered model
keeps a stack of past champions in a tag, so ``rollback`` knows where to go back to, and an
event log of every promotion, forced promotion and rollback.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

    from lakehouse.ml.datasets import DatasetLineage

CHAMPION = "champion"
CHALLENGER = "challenger"
ALIASES = (CHAMPION, CHALLENGER)
STACK_TAG = "lakehouse.champion_stack"
EVENTS_TAG = "lakehouse.champion_events"
LINEAGE_PREFIX = "lineage."
MAX_EVENTS = 20


def lineage_tags(
    lineage: DatasetLineage, run_id: str, candidate: str, extras: dict[str, Any]
) -> dict[str, str]:
    """Model-version tags naming the exact data behind the model."""
    tags = {
        f"{LINEAGE_PREFIX}table": lineage.table,
        f"{LINEAGE_PREFIX}table_version": str(lineage.version),
        f"{LINEAGE_PREFIX}table_path": lineage.path,
        f"{LINEAGE_PREFIX}row_count": str(lineage.row_count),
        f"{LINEAGE_PREFIX}content_hash": lineage.content_hash,
        f"{LINEAGE_PREFIX}sources": json.dumps(lineage.source_versions, sort_keys=True),
        "run_id": run_id,
        "candidate": candidate,
    }
    tags.update({k: repr(v) if isinstance(v, float) else str(v) for k, v in extras.items()})
    return tags


def table_versions_of(version: ModelVersion) -> dict[str, int]:
    """Every table version a registered model version depends on: its Gold table and the
    Silver versions that Gold was built from."""
    tags = version.tags
    table = tags.get(f"{LINEAGE_PREFIX}table")
    if table is None:
        return {}
    needed = {table: int(tags[f"{LINEAGE_PREFIX}table_version"])}
    needed.update(json.loads(tags.get(f"{LINEAGE_PREFIX}sources", "{}")))
    return needed


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version holding ``alias``, or None (also when the model does not exist)."""
    # imported here: importing mlflow imports pyspark when it is installed, and the service
    # imports this module at start (it calls this later, on its watcher thread)
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version``."""
    client.set_registered_model_alias(name, alias, version)


def champion_stack(client: MlflowClient, name: str) -> list[str]:
    """Past and present champion versions, the current one last."""
    tags = client.get_registered_model(name).tags
    return [str(v) for v in json.loads(tags.get(STACK_TAG, "[]"))]


def record_event(
    client: MlflowClient, name: str, stack: list[str], event: dict[str, Any]
) -> dict[str, Any]:
    """Save the champion stack and append ``event`` (stamped with when and who) to the log."""
    event = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "by": _user(), **event}
    events = json.loads(client.get_registered_model(name).tags.get(EVENTS_TAG, "[]"))
    events = [*events, event][-MAX_EVENTS:]
    client.set_registered_model_tag(name, STACK_TAG, json.dumps(stack))
    client.set_registered_model_tag(name, EVENTS_TAG, json.dumps(events))
    return event


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def aliased_versions(client: MlflowClient, names: list[str]) -> list[tuple[str, str, ModelVersion]]:
    """``(model, alias, version)`` for every alias of the given registered models."""
    found = []
    for name in names:
        for alias in ALIASES:
            version = alias_version(client, name, alias)
            if version is not None:
                found.append((name, alias, version))
    return found


def load_model(name: str, version: str):
    """A registered scikit-learn model version (skops, only allowlisted types)."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(f"models:/{name}/{version}")
