"""Typed configuration: ``conf/base`` + ``conf/<env>`` overlay + command-line overrides.

Resolution order (later wins): the defaults below, ``conf/base/lakehouse.yml``,
``conf/<env>/lakehouse.yml``, ``--landing`` / ``--lake``, then every ``--set key=value``.
The environment is picked by ``--env`` or ``LAKEHOUSE_ENV`` (default ``local``); the
configuration folder by ``LAKEHOUSE_CONF_DIR`` (default: ``conf/`` beside the package).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lakehouse.errors import EXIT_USAGE, LakehouseError

CONFIG_FILE_NAME = "lakehouse.yml"
DEFAULT_ENV = "local"
ENV_VAR_ENV = "LAKEHOUSE_ENV"
ENV_VAR_CONF_DIR = "LAKEHOUSE_CONF_DIR"
ENV_VAR_HOME = "LAKEHOUSE_HOME"
# the folder holding conf/ and .jars/: beside the package, unless the package was imported from
# the zip infra/spark-submit.sh ships with a job (it sets LAKEHOUSE_HOME for the driver)
PROJECT_ROOT = Path(os.environ.get(ENV_VAR_HOME) or Path(__file__).resolve().parent.parent)


class ConfigError(LakehouseError, ValueError):
    """Raised for a configuration that cannot be loaded or does not validate."""

    exit_code = EXIT_USAGE


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SparkSettings(_Section):
    """How the one SparkSession is built (see ``lakehouse.spark``)."""

    master: str | None = "local[*]"
    app_name: str = "lakehouse"
    jars_dir: str = ".jars"
    log_level: str = "WARN"
    conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("conf", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        # Spark settings are strings; YAML turns `4` and `false` into int and bool.
        if isinstance(value, Mapping):
            return {
                str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()
            }
        return value


class PrivacySettings(_Section):
    """Where the PII tokenization key comes from in ``local`` (``lakehouse.secrets``).

    Outside ``local`` none of these is read: the key comes from ``secrets.hmac_key`` only.
    """

    hmac_key: str | None = None
    hmac_key_env: str = "LAKEHOUSE_HMAC_KEY"
    require_key: bool = False


class SecretsSettings(_Section):
    """AWS Secrets Manager ids of the project's secrets (``lakehouse.secrets``); never values.

    An id is a secret's name or ARN; ``id#field`` takes one field of a JSON secret.
    """

    hmac_key: str | None = None  # the PII tokenization key (required outside local)
    # the password of a postgresql:// ml.tracking_uri, put into that URI at connect time
    tracking_db_password: str | None = None
    # the prediction service's hashed API keys (a JSON document, ``lakehouse.api_keys``)
    api_keys: str | None = None
    # the password of catalog.metastore_url's user (lakehouse.catalog)
    metastore_db_password: str | None = None
    # the shared online store's whole URL (rediss://user:password@host:6379/0, as the
    # infrastructure that made the server wrote it); it wins over serve.online_store.url.
    # Read by `lakehouse serve` only
    online_store_url: str | None = None
    region: str | None = None  # None: the S3 region (storage.s3_region, AWS_REGION, ...)
    # None: AWS_ENDPOINT_URL_SECRETS_MANAGER, else AWS_ENDPOINT_URL, else AWS's own
    endpoint: str | None = None


class IngestSettings(_Section):
    """Landing-zone discovery for the incremental file sources."""

    max_file_age: str = "36500d"
    max_files_per_trigger: int = 1000
    # a larger file is refused unread (file_too_large): each file is checked whole in memory
    max_file_mb: int = Field(default=1024, gt=0, le=2047)
    # read every still-refused file again on this run, not only those a new upload replaced:
    # after a fix on this side (a new payments alias, a larger max_file_mb); set it for one
    # run (`--set ingest.retry_refused=true`), since a file still refused is refused again
    retry_refused: bool = False


class SessionsSettings(_Section):
    """Rules for the Elasticsearch session logs."""

    epoch_seconds_below: int = 100_000_000_000
    min_event_ts: datetime = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
    max_event_ts: datetime = datetime.fromisoformat("2100-01-01T00:00:00+00:00")
    holiday_window_days: int = 7


class PaymentsSettings(_Section):
    """Rules for the payment CSV feeds."""

    # canonical column -> upstream names that mean it (matched case- and space-insensitively)
    aliases: dict[str, list[str]] = Field(default_factory=dict)
    # labels as of this instant (ISO-8601, UTC); None means the time of the run
    label_cutoff: datetime | None = None
    label_maturity_days: int = 60
    velocity_windows_s: dict[str, int] = Field(
        default_factory=lambda: {"1h": 3_600, "24h": 86_400, "7d": 604_800}
    )


class QualitySettings(_Section):
    """Data-quality gates."""

    # a run whose data fails a gate exits with EXIT_DATA_QUALITY (65); false: only a warning
    fail_on_error: bool = True
    # a Silver step (one source, one run) that quarantines more than this share of the rows it
    # read fails the gate; so does an ingest step that refuses every file it read
    max_quarantine_share: float = Field(0.5, ge=0, le=1)
    # run the expectation suites (lakehouse/quality): a Gold build whose `fail` checks fail is
    # not published while fail_on_error holds; Bronze and Silver batches are checked as they
    # are written (a failed `fail` check fails the gate); results go to audit/expectations
    suites: bool = True
    # render each validation as a Great Expectations Data Docs page under <lake>/_data_docs
    data_docs: bool = True
    # Bronze: the share of a batch's records that could not be parsed may be this much at most
    max_malformed_share: float = Field(0.1, ge=0, le=1)
    # Silver: a referential check wants at least this share of the column's (non-null) values
    # known to the reference table; 0 turns the referential checks off
    min_reference_share: float = Field(0.9, ge=0, le=1)
    # Gold against its published version: rows may drop by this share at most; a watched
    # column's null share may rise by this much at most, its median move by this factor at
    # most, in the new rows; the distribution checks need this many rows on both sides
    max_row_drop: float = Field(0.05, ge=0, le=1)
    max_null_share_increase: float = Field(0.2, ge=0, le=1)
    max_median_ratio: float = Field(10.0, gt=1)
    min_rows_for_distribution: int = Field(100, ge=1)
    # "<table>:<check>" -> fail | warn | ignore, to change a check's severity, e.g.
    # {"gold/payments_unified:amount_median_vs_published": warn}
    severity: dict[str, Literal["fail", "warn", "ignore"]] = Field(default_factory=dict)
    # schema drift (lakehouse/quality/drift.py): each ingested batch's shape is compared with
    # the contract and the feed's previous batch and recorded in audit/schema_drift; a batch
    # with a drift of a kind listed in fail_on_drift fails the gate
    schema_drift: bool = True
    fail_on_drift: list[Literal["new", "missing", "retyped"]] = Field(default_factory=list)


class SplitSettings(_Section):
    """Time-based split: train on the oldest rows, validate and test on newer ones."""

    validation_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)


class BootstrapSettings(_Section):
    """Confidence intervals of test metrics, and of the gate's challenger-champion difference."""

    resamples: int = Field(1000, ge=100)
    confidence: float = Field(0.95, gt=0.5, lt=1)


class PreprocessingSettings(_Section):
    """The feature-engineering steps shared by every model's pipeline."""

    # one-hot categories rarer than this in training collapse into one "infrequent" column
    min_category_frequency: int = 20
    # univariate filter after encoding: keep this share of features (100 keeps all)
    select_percentile: int = Field(90, ge=1, le=100)


class ModelTaskSettings(_Section):
    """One model: its registry name, gate and candidates' hyperparameters."""

    registered_name: str
    experiment: str
    primary_metric: str
    greater_is_better: bool
    # the challenger must beat the champion by at least this on the primary metric, and the
    # bootstrap interval of its improvement must lie above zero
    promotion_margin: float = 0.0
    min_training_rows: int = 200
    candidates: dict[str, dict[str, Any]] = Field(default_factory=dict)


class FraudTaskSettings(ModelTaskSettings):
    """Fraud model extras."""

    # recall is also reported at this false-positive rate
    fpr_target: float = Field(0.01, gt=0, lt=1)
    min_positive_labels: int = 20


class MaintainSettings(_Section):
    """``lakehouse maintain``: OPTIMIZE and VACUUM."""

    # files removed from a table longer ago than this are deleted, unless a model needs them
    min_retention_hours: float = Field(168.0, ge=0)
    # tombstones this close to a protected version's commit are kept too (clock skew)
    safety_margin_s: float = Field(3600.0, ge=0)
    # time travel needs the commit log too: tables a model needs keep it at least this long
    log_retention_days: int = Field(3650, ge=30)


class RetrainSettings(_Section):
    """When a model is retrained (``lakehouse run``, ``lakehouse retrain``): a Gold version newer
    than its last training run, and then one of: no champion yet, the newest rows drifted from
    the champion's training data, or the champion's live performance fell below the baseline's.
    """

    # retrain on any new Gold rows, drift or not (the policy before drift was measured)
    on_new_data: bool = False
    # a feature drifted when its PSI over the training bins, or (numbers) its KS distance to
    # the training values, reaches this; PSI above 0.25 is the usual "significant shift"
    psi_threshold: float = Field(0.25, gt=0)
    ks_threshold: float = Field(0.2, gt=0, le=1)
    # features that move with the calendar by nature: a newer version always holds days the
    # training data did not, so their distance is recorded but never counts as drift
    ignore_features: list[str] = Field(default_factory=lambda: ["day_of_year"])
    # rows newer than the champion's training data needed before drift is judged; at most
    # max_rows of them (a seeded sample) are compared
    min_rows: int = Field(200, ge=1)
    max_rows: int = Field(100_000, ge=1)
    # live performance: the champion's outcomes over the last live_days days with outcomes;
    # judged once at least min_outcomes answers (and, for fraud, min_positives frauds) are known
    live_days: int = Field(30, ge=1)
    min_outcomes: int = Field(200, ge=1)
    min_positives: int = Field(20, ge=1)


class MlSettings(_Section):
    """Training, tracking and the model registry."""

    # MLFLOW_TRACKING_URI wins; else this; else a SQLite store under <lake>/_mlflow
    tracking_uri: str | None = None
    artifact_root: str | None = None
    seed: int = 42
    split: SplitSettings = Field(default_factory=SplitSettings)
    bootstrap: BootstrapSettings = Field(default_factory=BootstrapSettings)
    preprocessing: PreprocessingSettings = Field(default_factory=PreprocessingSettings)
    # rows sampled from validation data for permutation importance
    importance_rows: int = 2_000
    delivery: ModelTaskSettings = Field(
        default_factory=lambda: ModelTaskSettings(
            registered_name="delivery_date",
            experiment="delivery_date",
            primary_metric="mae",
            greater_is_better=False,
        )
    )
    fraud: FraudTaskSettings = Field(
        default_factory=lambda: FraudTaskSettings(
            registered_name="fraud",
            experiment="fraud",
            primary_metric="pr_auc",
            greater_is_better=True,
        )
    )
    maintain: MaintainSettings = Field(default_factory=MaintainSettings)
    retrain: RetrainSettings = Field(default_factory=RetrainSettings)


class ApiAuthSettings(_Section):
    """Who may call the prediction service (``lakehouse.api_keys`` has the rules)."""

    # off is allowed in ``local`` only, and said loudly at start
    enabled: bool = True
    # a mounted file with the hashed keys (a Kubernetes Secret); ``secrets.api_keys`` too
    keys_file: str | None = None


class InferenceLogSettings(_Section):
    """``serve.inference_log``: every answer, written off the hot path in batches
    (``serving.inference_log``), appended to ``audit/inference_log`` by ``lakehouse ingest``."""

    enabled: bool = True
    # where the service drops its files (a folder or s3a:// URI); None: <lake>/_inference_log
    folder: str | None = None
    # longest an answer waits in memory, and the rows that make a file sooner
    flush_s: float = Field(5.0, gt=0)
    max_rows: int = Field(20_000, gt=0)
    # rows kept while the lake cannot be written; older ones beyond are dropped (and counted)
    max_buffered_rows: int = Field(1_000_000, gt=0)


# accounts a serving replica keeps of the shared velocity state (serve.online_store)
DEFAULT_CACHE_ACCOUNTS = 100_000


class OnlineStoreSettings(_Section):
    """Where the fraud velocity state lives: in the process (``url`` null, one replica), or
    in a Redis server every replica shares (``lakehouse.features.velocity_store``)."""

    # redis://host:6379/0 (rediss:// for TLS); a password goes in the URL's user part
    url: str | None = None
    # the keys' prefix (a digest of the lake, windows and lateness is appended)
    prefix: str = "lakehouse:velocity"
    # how long a replica waits for another one's warm start from Silver
    load_wait_s: float = Field(600.0, gt=0)
    # a command to the server that takes longer than this fails the request (503)
    timeout_s: float = Field(2.0, gt=0)
    # accounts a replica keeps between requests: the server then ships an account only when
    # it changed since (0: read every account whole each time)
    cache_accounts: int = Field(DEFAULT_CACHE_ACCOUNTS, ge=0)


class ServeSettings(_Section):
    """``lakehouse serve``: the prediction service (``serving/``)."""

    auth: ApiAuthSettings = Field(default_factory=ApiAuthSettings)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65_535)
    # the tasks the service answers for (``lakehouse.ml.catalog.TASKS`` names)
    tasks: list[str] = Field(default_factory=lambda: ["delivery", "fraud"])
    # tasks whose model must answer before /ready is 200; a task not listed here is waited
    # for only once the registry has a champion for it (else it answers 503 on its own routes)
    require_models: list[str] = Field(default_factory=list)
    # how often the registry is asked whether champion (or challenger) moved
    registry_poll_s: float = Field(5.0, gt=0)
    # a version that failed to load is tried again after this long
    load_retry_s: float = Field(60.0, gt=0)
    # how often reference data and account history are re-read when their tables moved
    data_refresh_s: float = Field(300.0, gt=0)
    # request limits: larger bodies get 413 before they are read, longer lists 413 too
    max_body_bytes: int = Field(16 * 1024 * 1024, gt=0)
    max_records: int = Field(10_000, gt=0)
    # micro-batching: concurrent requests are scored in one call; 0 waits only for the
    # requests already parsed in the same event-loop turn, more trades latency for batch size
    micro_batch_wait_ms: float = Field(0.0, ge=0)
    micro_batch_max_rows: int = Field(256, gt=0)
    # share of requests answered by the challenger (canary); shadow scores it on the side
    canary_share: float = Field(0.0, ge=0, le=1)
    shadow: bool = False
    # recent model inputs kept per model for the drift (PSI) metric
    drift_window_rows: int = Field(10_000, gt=0)
    # how often the PSI gauges are recomputed, on a thread of their own (a scrape only reads)
    drift_refresh_s: float = Field(30.0, gt=0)
    # how late a transaction may arrive and still get exact velocity features
    velocity_max_lateness_s: int = Field(3_600, ge=0)
    # fraud decision threshold when a model version carries none
    default_decision_threshold: float = Field(0.5, gt=0, lt=1)
    # allocations between young-generation collections (Python's default is 700): a request
    # of 1,000 records makes ~100,000 short-lived objects, and every collection also walks
    # what is young then
    gc_gen0_threshold: int = Field(50_000, ge=100)
    inference_log: InferenceLogSettings = Field(default_factory=InferenceLogSettings)
    online_store: OnlineStoreSettings = Field(default_factory=OnlineStoreSettings)


class StorageSettings(_Section):
    """Object storage (``s3a://`` landing and lake) and Delta's log store; no credentials here.

    Credentials always come from the standard AWS provider chain (environment, profile, web
    identity, instance role); see ``lakehouse.storage``.
    """

    # None: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS's own endpoint
    s3_endpoint: str | None = None
    # None: on when the endpoint's host is an IP address or localhost, else virtual-hosted
    s3_path_style: bool | None = None
    # None: AWS_REGION, else AWS_DEFAULT_REGION
    s3_region: str | None = None
    # "dynamodb": Delta's DynamoDB-backed S3 log store, safe for concurrent writers
    log_store: Literal["default", "dynamodb"] = "default"
    dynamodb_table: str = "delta_log"
    # None: the S3 region
    dynamodb_region: str | None = None
    # None: AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL, else AWS's own endpoint
    dynamodb_endpoint: str | None = None


class CatalogSettings(_Section):
    """Tables by name (``lakehouse.catalog``): where the metastore lives, how it is served."""

    enabled: bool = True
    # a JDBC URL of the metastore's database (jdbc:postgresql://host:5432/metastore); None:
    # Spark's embedded metastore (Derby) in <lake>/_catalog, or in local_dir for an s3a:// lake
    metastore_url: str | None = None
    metastore_user: str | None = None
    metastore_driver: str = "org.postgresql.Driver"
    local_dir: str = "data/catalog"
    # prepended to every layer's database name (``dev_gold``): several lakes in one metastore
    database_prefix: str = ""
    owner: str = "lakehouse"
    # `lakehouse sql-server`: Spark Connect and the Thrift (JDBC/ODBC) server
    host: str = "127.0.0.1"
    connect_port: int = Field(default=15002, ge=0, le=65535)
    thrift_port: int = Field(default=10000, ge=0, le=65535)
    # how often the SQL server registers tables that appeared in the lake meanwhile
    sync_interval_s: float = Field(default=60.0, gt=0)

    @field_validator("database_prefix")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if value and not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            raise ValueError("a database prefix is a lower-case letter, then letters, digits, _")
        return value


class LockSettings(_Section):
    """The lake's writer lock (``lakehouse.io.lake_lock``): one writing command at a time."""

    # seconds a writing command waits for a lake another command holds; 0: refuse at once
    wait_s: float = Field(default=0.0, ge=0)
    # S3 lakes: the DynamoDB lease, renewed every third of it; a dead run's lock expires
    lease_s: float = Field(default=60.0, ge=3)
    # S3 lakes: the DynamoDB table of locks (created on first use), at the log store's
    # endpoint and region (storage.dynamodb_*)
    table: str = "lakehouse_locks"


class StreamSettings(_Section):
    """``lakehouse stream``: the pipeline run continuously (``lakehouse.pipeline.stream``)."""

    # seconds between the starts of two cycles (a processing-time trigger for the whole
    # pipeline); a cycle that runs longer is followed at once by the next
    trigger_s: float = Field(default=60.0, gt=0)
    # seconds a cycle waits for the lake while a batch command holds it
    lock_wait_s: float = Field(default=3600.0, ge=0)


class GoldSettings(_Section):
    """How Gold tables are rebuilt (``lakehouse.pipeline.steps.run_gold``)."""

    # rebuild only the rows the inputs' changes can reach (Delta's change data feed on Silver)
    # when that is known to be right, else the whole table; false: always the whole table.
    # Off until it measures faster than the whole build (README, "Performance")
    incremental: bool = False


class MonitoringSettings(_Section):
    """Where the scheduled commands report their metrics (``lakehouse.monitoring``)."""

    # a Prometheus Pushgateway (http://host:9091): every scheduled command pushes its
    # outcome, duration, rows and table versions there at its end, also when it fails
    pushgateway: str | None = None
    push_timeout_s: float = Field(default=10.0, gt=0)
    # without a Pushgateway: one Prometheus text file per job and source in this folder, for
    # node-exporter's textfile collector (``--collector.textfile.directory``); null: none
    textfile_dir: str | None = "data/metrics"


class Settings(_Section):
    """The whole effective configuration of one command."""

    env: str = DEFAULT_ENV
    landing_root: str = "data/landing"
    lake_root: str = "data/lake"
    spark: SparkSettings = Field(default_factory=SparkSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    sessions: SessionsSettings = Field(default_factory=SessionsSettings)
    payments: PaymentsSettings = Field(default_factory=PaymentsSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    ml: MlSettings = Field(default_factory=MlSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    lock: LockSettings = Field(default_factory=LockSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    gold: GoldSettings = Field(default_factory=GoldSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)

    def landing_path(self, *parts: str) -> str:
        """A location inside the landing zone."""
        return join_uri(self.landing_root, *parts)

    def table_path(self, layer: str, name: str) -> str:
        """The folder of the Delta table ``<lake>/<layer>/<name>``."""
        return join_uri(self.lake_root, layer, name)

    def checkpoint_path(self, layer: str, name: str) -> str:
        """The streaming checkpoint of the step that writes ``<layer>/<name>``."""
        return join_uri(self.lake_root, "_checkpoints", layer, name)

    def fingerprint(self) -> str:
        """A stable hash of the effective configuration, secrets excluded."""
        data = self.model_dump(mode="json", exclude=SECRET_FIELDS)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# settings that may hold a secret (a key; a URL with a password): never logged or hashed
SECRET_FIELDS: dict = {
    "privacy": {"hmac_key"},
    "serve": {"online_store": {"url"}},
    "catalog": {"metastore_url"},
}


def join_uri(root: str, *parts: str) -> str:
    """Join path parts onto a local folder or an object-store URI.

    Local roots are made absolute so that Spark, checkpoints and the JVM-free Delta reader all
    agree on one location whatever the working directory.
    """
    if "://" in root:
        return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])
    return str(Path(root).expanduser().resolve().joinpath(*parts))


def conf_dir() -> Path:
    """The configuration folder in use."""
    return Path(os.environ.get(ENV_VAR_CONF_DIR, PROJECT_ROOT / "conf"))


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``overlay`` into a copy of ``base``; nested mappings merge, other values replace."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_override(item: str) -> dict[str, Any]:
    """Turn ``a.b.c=value`` into ``{"a": {"b": {"c": value}}}``; the value is read as YAML.

    Keys under ``spark.conf`` keep their dots (``spark.conf.spark.sql.shuffle.partitions=4``)
    and their values stay strings, as Spark expects.
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects key=value, got {item!r}")
    if key.startswith("spark.conf."):
        return {"spark": {"conf": {key.removeprefix("spark.conf."): raw}}}
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML") from exc
    node: dict[str, Any] = {}
    cursor = node
    parts = key.split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return node


def env_overrides(value: str | None) -> list[str]:
    """``key=value`` overrides given as a JSON list in one environment variable
    (``LAKEHOUSE_SET``, for containers); none when unset or empty."""
    if not value or not value.strip():
        return []
    try:
        items = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"LAKEHOUSE_SET is not a JSON list of key=value strings: {exc}") from exc
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError('LAKEHOUSE_SET must be a JSON list of strings, e.g. ["serve.port=80"]')
    return items


def load_settings(
    env: str | None = None,
    *,
    landing: str | None = None,
    lake: str | None = None,
    overrides: Iterable[str] = (),
    directory: Path | None = None,
) -> Settings:
    """Load the effective configuration.

    Args:
        env: Overlay name; ``LAKEHOUSE_ENV`` or ``local`` when not given.
        landing: Landing root override (``--landing``).
        lake: Lake root override (``--lake``).
        overrides: ``key=value`` strings (``--set``), dotted keys into the configuration.
        directory: Configuration folder; ``conf_dir()`` when not given.

    Returns:
        The validated settings.

    Raises:
        ConfigError: For a missing base configuration, an unknown environment, bad YAML or a
            value that does not validate.
    """
    env = env or os.environ.get(ENV_VAR_ENV) or DEFAULT_ENV
    directory = directory or conf_dir()
    base_file = directory / "base" / CONFIG_FILE_NAME
    if not base_file.is_file():
        # without the base every setting would silently fall back to a code default
        raise ConfigError(
            f"no base configuration at {base_file}: run from the project's folder, "
            f"or point {ENV_VAR_CONF_DIR} at a folder holding base/{CONFIG_FILE_NAME}"
        )
    overlay_file = directory / env / CONFIG_FILE_NAME
    if env != DEFAULT_ENV and not overlay_file.exists():
        known = sorted(p.name for p in directory.iterdir() if (p / CONFIG_FILE_NAME).exists())
        raise ConfigError(f"unknown environment {env!r}: expected one of {known}")
    data = deep_merge(_read_yaml(base_file), _read_yaml(overlay_file))
    data["env"] = env
    if landing:
        data["landing_root"] = landing
    if lake:
        data["lake_root"] = lake
    for item in overrides:
        data = deep_merge(data, parse_override(item))
    try:
        return Settings.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"invalid configuration for env {env!r}:\n{exc}") from exc
