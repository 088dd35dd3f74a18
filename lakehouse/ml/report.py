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


LIVE_DAYS = 30


def live_performance(settings: Settings) -> list[dict]:
    """The rows of ``gold/model_performance`` (none before the table exists)."""
    from lakehouse.io.delta_reader import read_lake_table
    from lakehouse.tables import GOLD_MODEL_PERFORMANCE

    snapshot = read_lake_table(settings, GOLD_MODEL_PERFORMANCE)
    if snapshot is None:
        return []
    frame = snapshot.frame.astype(object).where(snapshot.frame.notna(), None)
    return frame.to_dict("records")


def _figure(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def live_figures(rows: list[dict]) -> dict[tuple[str, str, str], tuple]:
    """(model, version, source) -> (last day, figures over the ``LIVE_DAYS`` days to it)."""
    from lakehouse.gold.model_performance import recent, summarize

    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in rows:
        key = (row["model_name"], str(row["model_version"]), row["source"])
        groups.setdefault(key, []).append(row)
    out = {}
    for key, days in sorted(groups.items()):
        latest = max(r["day"] for r in days)
        out[key] = (latest, summarize(recent(days, LIVE_DAYS, latest)))
    return out


def describe_live(figures: dict[tuple[str, str, str], tuple], name: str, version: str):
    """One line per source: the version's figures on the outcomes known so far."""
    lines = []
    for (model, number, source), (latest, found) in figures.items():
        if (model, number) != (name, version):
            continue
        if "mae" in found:
            shown = f"mae {_figure(found['mae'])}, within_1d {_figure(found['within_1d'])}"
        elif "positives" in found:
            shown = (
                f"precision {_figure(found['precision'])}, recall {_figure(found['recall'])}"
                f", pr_auc {_figure(found['pr_auc'])} ({found['positives']} frauds)"
            )
        else:
            shown = "no outcome known yet"
        lines.append(
            f"    live ({source}, {LIVE_DAYS} days to {latest}): {shown} on "
            f"{found['outcomes']} outcomes"
        )
    return lines


def render_models(settings: Settings) -> str:
    """Every aliased version of every model with its live performance, and each model's
    champion history."""
    client = client_for(settings)
    names = [task.task_settings(settings).registered_name for task in TASKS.values()]
    live = live_figures(live_performance(settings))
    lines = []
    for _name, alias, version in aliased_versions(client, names):
        lines.extend(describe_version(client, version, alias))
        lines.extend(describe_live(live, version.name, str(version.version)))
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
