"""The Grafana dashboards, as code: `make monitoring-manifests` writes them to
infra/monitoring/dashboards/*.json (provisioned by file: infra/monitoring/grafana).

Built with Grafana's own typed builders (grafana-foundation-sdk, for the Grafana version
pinned in constraints.txt), so every field is one that Grafana's dashboard schema has.
tests/infra/test_dashboards.py fails when the JSON files are out of date, when a query names a
metric the project does not export, or when a dashboard does not load into the schema's model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "infra" / "monitoring" / "dashboards"
# the Grafana version the dashboards are built for (grafana-foundation-sdk's build of it)
GRAFANA_VERSION = "11.6"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
ROUTES = 'route=~"/v1/.*"'  # the prediction routes


class Layout:
    """Panels placed left to right on Grafana's 24-column grid, wrapping to new rows."""

    def __init__(self) -> None:
        self.x = self.y = self.row_height = 0

    def place(self, width: int, height: int) -> GridPos:
        if self.x + width > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        position = GridPos(h=height, w=width, x=self.x, y=self.y)
        self.x += width
        self.row_height = max(self.row_height, height)
        return position


def query(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False):
    built = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        built = built.legend_format(legend)
    return built.instant() if instant else built.range()


def new_dashboard(uid: str, title: str, description: str, panels: list) -> dashboard.Dashboard:
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["lakehouse"])
        .editable()
        .refresh("1m")
        .time("now-24h", "now")
        .timezone("utc")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
    )
    for panel in panels:
        board = board.with_panel(panel)
    return board


def series(layout: Layout, title: str, unit: str, *queries, width: int = 12, description: str = ""):
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE)
    panel = panel.grid_pos(layout.place(width, 8))
    if description:
        panel = panel.description(description)
    for built in queries:
        panel = panel.with_target(built)
    return panel


def stat_panel(
    layout: Layout, title: str, unit: str, built, *, width: int = 6, description: str = ""
):
    panel = stat.Panel().title(title).unit(unit).datasource(DATASOURCE).with_target(built)
    panel = panel.grid_pos(layout.place(width, 5))
    return panel.description(description) if description else panel


def table_panel(layout: Layout, title: str, *queries, width: int = 24, description: str = ""):
    panel = table.Panel().title(title).datasource(DATASOURCE)
    for built in queries:
        panel = panel.with_target(built)
    panel = panel.grid_pos(layout.place(width, 8))
    return panel.description(description) if description else panel


def service_dashboard() -> dashboard.Dashboard:
    """The prediction service: traffic, latency, errors, models and versions, drift, shadow."""
    layout = Layout()
    panels = [
        stat_panel(
            layout,
            "Replicas without a champion",
            "short",
            query("count(lakehouse_model_champion_held == 0) or vector(0)", instant=True),
            description="Replicas answering a model with 503 (LakehouseNoChampion)",
        ),
        stat_panel(
            layout,
            "Requests/s",
            "reqps",
            query(f"sum(rate(lakehouse_http_requests_total{{{ROUTES}}}[{RATE}]))", instant=True),
        ),
        stat_panel(
            layout,
            "5xx share",
            "percentunit",
            query(
                f'sum(rate(lakehouse_http_requests_total{{{ROUTES}, status=~"5.."}}[{RATE}]))'
                f" / sum(rate(lakehouse_http_requests_total{{{ROUTES}}}[{RATE}]))",
                instant=True,
            ),
        ),
        stat_panel(
            layout,
            "Transactions in velocity windows",
            "short",
            query("sum(lakehouse_velocity_held_transactions)", instant=True),
        ),
        series(
            layout,
            "Requests by route and status",
            "reqps",
            query(
                f"sum by (route, status) (rate(lakehouse_http_requests_total[{RATE}]))",
                "{{route}} {{status}}",
            ),
        ),
        series(
            layout,
            "Latency percentiles by route",
            "s",
            *[
                query(
                    f"histogram_quantile({q}, sum by (route, le) "
                    f"(rate(lakehouse_http_request_duration_seconds_bucket[{RATE}])))",
                    f"p{round(q * 100)} {{{{route}}}}",
                    ref,
                )
                for q, ref in ((0.5, "A"), (0.99, "B"))
            ],
            description="First byte of a request to its last response byte (p99 target: 10 ms)",
        ),
        series(
            layout,
            "Predictions by model, version and alias",
            "ops",
            query(
                f"sum by (model, version, alias) (rate(lakehouse_predictions_total[{RATE}]))",
                "{{model}} v{{version}} {{alias}}",
            ),
        ),
        series(
            layout,
            "Inference log",
            "ops",
            query(f"sum(rate(lakehouse_inference_log_rows_total[{RATE}]))", "records written"),
            query(f"sum(rate(lakehouse_inference_log_files_total[{RATE}]))", "files", "B"),
            query(
                f"sum(rate(lakehouse_inference_log_write_errors_total[{RATE}]))",
                "write errors",
                "C",
            ),
            query(
                f"sum(rate(lakehouse_inference_log_dropped_rows_total[{RATE}]))",
                "records dropped",
                "D",
            ),
            description="Answers written to <lake>/_inference_log; errors keep the rows for the "
            "next flush, a full buffer drops the oldest",
        ),
        series(
            layout,
            "Inference-log backlog",
            "short",
            query(
                "max by (instance) (lakehouse_inference_log_buffered_rows)",
                "{{instance}}",
            ),
            description="Answered records held in memory per replica: a few seconds' worth "
            "normally (serve.inference_log.flush_s), growing while writes fail",
        ),
        series(
            layout,
            "Invalid records (422) by reason",
            "ops",
            query(
                f"sum by (task, reason) (rate(lakehouse_invalid_records_total[{RATE}]))",
                "{{task}} {{reason}}",
            ),
        ),
        table_panel(
            layout,
            "Model versions served",
            query("lakehouse_model_info", instant=True),
            description="Per replica, model and alias: the version and the Gold data it learned",
        ),
        series(
            layout,
            "Model loads and swaps",
            "short",
            query(
                "sum by (model, outcome) (increase(lakehouse_model_loads_total[1h]))",
                "load {{model}} {{outcome}}",
            ),
            query(
                "sum by (model, alias) (increase(lakehouse_model_swaps_total[1h]))",
                "swap {{model}} {{alias}}",
                "B",
            ),
        ),
        series(
            layout,
            "Model call time (p99) and rows per call",
            "s",
            query(
                "histogram_quantile(0.99, sum by (model, le) "
                f"(rate(lakehouse_model_batch_seconds_bucket[{RATE}])))",
                "p99 {{model}}",
            ),
            query(
                "histogram_quantile(0.5, sum by (model, le) "
                f"(rate(lakehouse_model_batch_rows_bucket[{RATE}])))",
                "median rows per call {{model}}",
                "B",
            ),
        ),
        series(
            layout,
            "Feature drift (PSI, highest per model)",
            "short",
            query("max by (model, feature) (lakehouse_feature_psi)", "{{model}} {{feature}}"),
            description="Against the training data: < 0.1 stable, > 0.25 a significant shift",
        ),
        series(
            layout,
            "Prediction drift (PSI)",
            "short",
            query("max by (model, version) (lakehouse_prediction_psi)", "{{model}} v{{version}}"),
        ),
        series(
            layout,
            "Shadow: challenger disagreement",
            "percentunit",
            query(
                f"sum by (model) (rate(lakehouse_shadow_disagreements_total[{RATE}]))"
                f" / sum by (model) (rate(lakehouse_shadow_abs_difference_count[{RATE}]))",
                "{{model}}",
            ),
        ),
        series(
            layout,
            "Predicted delivery days (median, p90)",
            "d",
            *[
                query(
                    f"histogram_quantile({q}, sum by (version, le) "
                    f"(rate(lakehouse_delivery_prediction_bucket[{RATE}])))",
                    f"p{round(q * 100)} v{{{{version}}}}",
                    ref,
                )
                for q, ref in ((0.5, "A"), (0.9, "B"))
            ],
        ),
        series(
            layout,
            "Fraud probability (median, p99)",
            "percentunit",
            *[
                query(
                    f"histogram_quantile({q}, sum by (version, le) "
                    f"(rate(lakehouse_fraud_prediction_bucket[{RATE}])))",
                    f"p{round(q * 100)} v{{{{version}}}}",
                    ref,
                )
                for q, ref in ((0.5, "A"), (0.99, "B"))
            ],
        ),
        series(
            layout,
            "Rows behind the drift gauges",
            "short",
            query(
                "min by (model, version) (lakehouse_drift_window_rows)", "{{model}} v{{version}}"
            ),
            description="Recent rows the PSI is computed over (serve.drift_window_rows at most)",
        ),
        series(
            layout,
            "Fraud decisions",
            "ops",
            query(
                f"sum by (version, decision) (rate(lakehouse_fraud_decisions_total[{RATE}]))",
                "v{{version}} {{decision}}",
            ),
        ),
        series(
            layout,
            "Requests by API key",
            "reqps",
            query(
                f"sum by (key_id, status) (rate(lakehouse_api_key_requests_total[{RATE}]))",
                "{{key_id}} {{status}}",
            ),
            description="Each caller's traffic by its key's id (serve.auth)",
        ),
        series(
            layout,
            "Refused by authentication",
            "reqps",
            query(
                f"sum by (reason) (rate(lakehouse_api_auth_failures_total[{RATE}]))",
                "{{reason}}",
            ),
            query(
                "count(lakehouse_api_auth_enabled == 0) or vector(0)", "replicas with auth off", "B"
            ),
            description="401 for a missing or unknown key, 403 for a missing role "
            "(LakehouseApiKeyRejections); replicas with authentication off (local only)",
        ),
    ]
    return new_dashboard(
        "lakehouse-service",
        "Lakehouse: prediction service",
        "Traffic, latency, errors, the models each replica serves, drift and shadow scoring "
        "(the service's /metrics). Alerts: infra/monitoring/rules; runbooks: docs/OPERATIONS.md.",
        panels,
    )


def pipeline_dashboard() -> dashboard.Dashboard:
    """The scheduled jobs: outcomes, freshness per table, rows and quarantine, durations, gates."""
    layout = Layout()
    panels = [
        table_panel(
            layout,
            "Last run of each job",
            query("lakehouse_job_exit_code", instant=True),
            query("lakehouse_job_outcome == 1", "", "B", instant=True),
            query("time() - lakehouse_job_last_run_timestamp_seconds", "", "C", instant=True),
            description="0: success; 65 data-quality gate, 70 crash, 75 lake held, 78 secret",
        ),
        series(
            layout,
            "Time since the last success",
            "s",
            query(
                "time() - lakehouse_job_last_success_timestamp_seconds",
                "{{job}} {{scope}}",
            ),
        ),
        series(
            layout,
            "Gold freshness: age of the latest version",
            "s",
            query(
                "time() - max by (table) (lakehouse_table_last_commit_timestamp_seconds)",
                "{{table}}",
            ),
        ),
        series(
            layout,
            "Job duration",
            "s",
            query("lakehouse_job_duration_seconds", "{{job}} {{scope}}"),
        ),
        series(
            layout,
            "Step duration",
            "s",
            query("max by (step, table) (lakehouse_step_duration_seconds)", "{{step}} {{table}}"),
        ),
        series(
            layout,
            "Rows per step (last run)",
            "short",
            query(
                "max by (step, table, measure) (lakehouse_step_count"
                '{measure=~"records_read|bronze_rows|silver_inserted|silver_updated|rows"})',
                "{{table}} {{measure}}",
            ),
        ),
        series(
            layout,
            "Quarantine share per Silver step",
            "percentunit",
            query(
                'max by (table) (lakehouse_step_count{step="silver", measure="quarantined"}'
                ' / ignoring (measure) lakehouse_step_count{step="silver", measure="bronze_rows"})',
                "{{table}}",
            ),
        ),
        series(
            layout,
            "Failed expectations and schema drift",
            "short",
            query(
                "max by (table, severity) (lakehouse_step_failed_expectations)",
                "{{table}} {{severity}}",
            ),
            query(
                "max by (table) (lakehouse_step_schema_drift_changes)",
                "{{table}} drift",
                "B",
            ),
        ),
        series(
            layout,
            "Gates: data quality and promotion (1 passed, 0 refused)",
            "short",
            query("lakehouse_job_gate_passed", "quality {{job}} {{scope}}"),
            query("lakehouse_promotion_gate_passed", "promotion {{scope}}", "B"),
            query("lakehouse_job_gate_failures", "gates failed {{job}} {{scope}}", "C"),
        ),
        series(
            layout,
            "Micro-batches per step, and each table's version after it",
            "short",
            query("max by (step, table) (lakehouse_step_batches)", "batches {{table}}"),
            query("max by (table) (lakehouse_step_table_version)", "version {{table}}", "B"),
        ),
        series(
            layout,
            "Gold table versions",
            "short",
            query("max by (table) (lakehouse_table_version)", "{{table}}"),
        ),
    ]
    return new_dashboard(
        "lakehouse-pipeline",
        "Lakehouse: pipeline",
        "The scheduled commands' last runs (pushed to the Pushgateway): outcomes, Gold "
        "freshness, rows and quarantine per step, durations, quality and promotion gates.",
        panels,
    )


def models_dashboard() -> dashboard.Dashboard:
    """Model quality: live performance by model version, drift of new Gold rows, the gates."""
    layout = Layout()
    live = "lakehouse_model_live_metric"
    by_version = "{{model}} v{{version}} {{source}}"
    panels = [
        series(
            layout,
            "Delivery: live mean absolute error (days)",
            "short",
            query(f'{live}{{metric="mae"}}', by_version),
            description="On the checkouts whose parcels arrived, answers of the last 30 days of "
            "events (gold/model_performance, exported by the job that rebuilt it)",
        ),
        series(
            layout,
            "Delivery: live answers within one day",
            "percentunit",
            query(f'{live}{{metric="within_1d"}}', by_version),
        ),
        series(
            layout,
            "Fraud: live precision, recall, PR-AUC (mature labels)",
            "percentunit",
            query(f'{live}{{metric=~"precision|recall|pr_auc"}}', f"{by_version} {{{{metric}}}}"),
            description="Only labels past payments.label_maturity_days count: the figures of "
            "the last two months fill in as fraud cases arrive",
        ),
        series(
            layout,
            "Outcomes known (and frauds among them)",
            "short",
            query(f'{live}{{metric=~"outcomes|positives"}}', f"{by_version} {{{{metric}}}}"),
        ),
        series(
            layout,
            "Live performance below the baseline (1: the policy retrains)",
            "short",
            query("lakehouse_model_live_below_baseline", "{{model}} v{{version}}"),
        ),
        series(
            layout,
            "Gold drift: inputs drifted in the last check",
            "short",
            query("lakehouse_gold_drifted_features", "{{model}} v{{version}}"),
            description="The rows of each new Gold version newer than the champion's training "
            "data, against its training profile (audit/feature_drift)",
        ),
        series(
            layout,
            "Gold drift: PSI per input",
            "short",
            query(
                'max by (model, feature) (lakehouse_gold_feature_distance{statistic="psi"})',
                "{{model}} {{feature}}",
            ),
            description="0.25 and above: drifted (ml.retrain.psi_threshold)",
        ),
        series(
            layout,
            "Gold drift: KS distance per numeric input",
            "percentunit",
            query(
                'max by (model, feature) (lakehouse_gold_feature_distance{statistic="ks"})',
                "{{model}} {{feature}}",
            ),
            description="0.2 and above: drifted (ml.retrain.ks_threshold)",
        ),
    ]
    return new_dashboard(
        "lakehouse-models",
        "Lakehouse: models",
        "Model quality: each version's live figures once outcomes arrive, the drift of new Gold "
        "rows from the champion's training data, and the retraining policy's signals.",
        panels,
    )


DASHBOARDS = {
    "lakehouse-service": service_dashboard,
    "lakehouse-pipeline": pipeline_dashboard,
    "lakehouse-models": models_dashboard,
}


def render(name: str) -> str:
    """The dashboard's JSON, as Grafana provisions it."""
    return json.dumps(DASHBOARDS[name]().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def draw_layout(board: dict, path: Path) -> None:
    """A picture of the dashboard's grid: each panel's box, type and title (for the docs; the
    panels' data need a running Grafana)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
    figure, axes = plt.subplots(figsize=(12, 12 * bottom / 24 * 0.45 + 0.6))
    axes.set_xlim(0, 24)
    axes.set_ylim(bottom, 0)
    axes.axis("off")
    axes.set_title(board["title"], loc="left", fontsize=12, fontweight="bold")
    colours = {"timeseries": "#dbe9f6", "stat": "#e3f1df", "table": "#f6ecd9"}
    for panel in board["panels"]:
        grid = panel["gridPos"]
        axes.add_patch(
            Rectangle(
                (grid["x"] + 0.1, grid["y"] + 0.1),
                grid["w"] - 0.2,
                grid["h"] - 0.2,
                facecolor=colours.get(panel["type"], "#eeeeee"),
                edgecolor="#555555",
            )
        )
        axes.text(grid["x"] + 0.4, grid["y"] + 0.9, panel["title"], fontsize=8, va="top", wrap=True)
        axes.text(
            grid["x"] + 0.4, grid["y"] + grid["h"] - 0.5, panel["type"], fontsize=7, color="#666666"
        )
    figure.savefig(path, dpi=80, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    pictures = ROOT / "docs" / "dashboards"
    pictures.mkdir(parents=True, exist_ok=True)
    for name in DASHBOARDS:
        text = render(name)
        (OUT / f"{name}.json").write_text(text)
        draw_layout(json.loads(text), pictures / f"{name}.png")
        print(f"wrote {(OUT / f'{name}.json').relative_to(ROOT)} and its layout", file=sys.stderr)
