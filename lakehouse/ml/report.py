"""What the registry holds, for the terminal: aliases, metrics beside baselines, lineage."""

from __future__ import annotations

import json

from lakehouse.config import Settings
from lakehouse.ml.catalog import TASKS
from lakehouse.ml.registry import LINEAGE_PREFIX, aliased_versions, champion_stack
from lakehouse.ml.tracking import client_for

BASELINE_PREFIX = "baseline_test_"
TEST_PREFIX = "test_"


def describe_version(client, version, alias: str) -> list[str]:
    """A model version's test metrics beside the baseline's, and its lineage."""
    metrics = client.get_run(version.run_id).data.metrics
    pairs = []
    for name in sorted(metrics):
        if name.startswith(TEST_PREFIX):
            short = name.removeprefix(TEST_PREFIX)
            baseline = metrics.get(f"{BASELINE_PREFIX}{short}")
            shown = f"{short} {metrics[name]:.4f}"
            if baseline is not None:
                shown += f" (baseline {baseline:.4f})"
            pairs.append(shown)
    tags = version.tags
    sources = json.loads(tags.get(f"{LINEAGE_PREFIX}sources", "{}"))
    return [
        f"{version.name} v{version.version} @{alias} [{tags.get('candidate', '?')}] "
        f"run {version.run_id}",
        f"    test: {', '.join(pairs)}",
        f"    trained on {tags.get(f'{LINEAGE_PREFIX}table')}@v"
        f"{tags.get(f'{LINEAGE_PREFIX}table_version')} "
        f"({tags.get(f'{LINEAGE_PREFIX}row_count')} rows, "
        f"hash {tags.get(f'{LINEAGE_PREFIX}content_hash', '')[:12]}) <- "
        + (", ".join(f"{k}@v{v}" for k, v in sorted(sources.items())) or "no recorded sources"),
    ]


def render_models(settings: Settings) -> str:
    """Every aliased version of every model, and each model's champion history."""
    client = client_for(settings)
    names = [task.task_settings(settings).registered_name for task in TASKS.values()]
    lines = []
    for _name, alias, version in aliased_versions(client, names):
        lines.extend(describe_version(client, version, alias))
    for name in names:
        if aliased_versions(client, [name]) and (history := champion_stack(client, name)):
            lines.append(f"{name}: champion history {' -> '.join(f'v{v}' for v in history)}")
    return "\n".join(lines) if lines else "no registered models yet: run `lakehouse train`"


def has_champions(settings: Settings) -> bool:
    """Whether every model has a champion (what the service needs to start)."""
    client = client_for(settings)
    names = [task.task_settings(settings).registered_name for task in TASKS.values()]
    champions = {n for n, alias, _ in aliased_versions(client, names) if alias == "champion"}
    return champions == set(names)
