"""The command surface, end to end through click, on the suite's Spark session."""

import contextlib
import csv
import gzip
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lakehouse import __version__
from lakehouse.cli import cli
from lakehouse.config import PROJECT_ROOT
from lakehouse.errors import EXIT_CRASH, EXIT_DATA_QUALITY
from lakehouse.privacy import INNER_KEY_COLUMN
from tests.support.key_material import leaks
from tests.support.lake import generate_through_cli


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """A generated landing zone (through the CLI) and a lake folder."""
    root = tmp_path_factory.mktemp("cli")
    generated = generate_through_cli(root / "landing", sessions=600, transactions=400, seed=3)
    (root / "totals.json").write_text(json.dumps(generated["sessions"]["totals"]))
    return ["--landing", str(root / "landing"), "--lake", str(root / "lake")]


def invoke(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_generate_run_history_report(spark, roots):
    totals = json.loads((Path(roots[1]).parent / "totals.json").read_text())
    assert totals["ingestible_records"] >= 600

    ran = invoke("run", *roots, "--set", "privacy.hmac_key=cli-test")
    assert ran.exit_code == 0, ran.output
    assert f"records_read={totals['ingestible_records']}" in ran.output
    assert "gold/delivery_features" in ran.output
    assert "train   fraud     skipped:" in ran.output  # `run` also retrains models

    history = invoke("history", "silver/sessions", *roots)
    assert history.exit_code == 0, history.output
    # the first load is a plain write (nothing to match yet); later batches are merges
    assert "WRITE" in history.output and "numOutputRows=" in history.output

    report = invoke("report", *roots)
    assert report.exit_code == 0, report.output
    assert "FAIL" not in report.output
    for source in ("sessions", "payment_transactions", "account_details"):
        assert f"OK   {source}" in report.output
    assert "version 0:" in report.output
    assert "gold/payments_unified" in report.output

    # the hourly schedule's last task: both sources add up, both Gold versions passed
    check = invoke("check", *roots)
    assert check.exit_code == 0, check.output
    assert "lake check passed" in check.output
    for table in ("gold/delivery_features", "gold/payments_unified"):
        assert f"OK   {table}" in check.output


def test_quarantine_list_and_replay(spark, roots):
    key = ["--set", "privacy.hmac_key=cli-test"]
    listed = invoke("quarantine", "list", *roots, *key, "--source", "sessions")
    assert listed.exit_code == 0, listed.output
    assert "missing_created_ts" in listed.output and "released" in listed.output
    # nothing was fixed: every chosen row stays held, and the lake still adds up
    replayed = invoke(
        "quarantine",
        "replay",
        *roots,
        *key,
        "--source",
        "sessions",
        "--reason",
        "missing_created_ts",
    )
    assert replayed.exit_code == 0, replayed.output
    assert "replay 0:" in replayed.output and " 0 released" in replayed.output
    assert "still held: missing_created_ts" in replayed.output
    report = invoke("report", *roots, *key)
    assert report.exit_code == 0 and "FAIL" not in report.output, report.output
    bad = invoke("quarantine", "replay", *roots, *key, "--source", "gold")
    assert bad.exit_code == 2 and "Invalid value for '--source'" in bad.output


def test_single_layer_and_source(spark, roots):
    result = invoke("silver", *roots, "--source", "reference")
    assert result.exit_code == 0, result.output
    assert "silver/zip_codes" in result.output and "silver/sessions" not in result.output


def test_bad_input_gives_clear_errors(spark, roots):
    unknown_source = invoke("ingest", *roots, "--source", "nope")
    assert unknown_source.exit_code == 2
    assert "'nope' is not one of 'reference', 'sessions', 'payments'" in unknown_source.output
    unknown_model = invoke("promote", "delivery_date", *roots)
    assert unknown_model.exit_code == 2 and "'delivery_date' is not one of" in unknown_model.output
    bad_table = invoke("history", "delivery_features", *roots)
    assert bad_table.exit_code == 2 and "layer/name" in bad_table.output
    missing = invoke("history", "gold/nothing_here", *roots)
    assert missing.exit_code == 1 and "no Delta table" in missing.output
    bad_env = invoke("run", "--env", "mars")
    assert bad_env.exit_code == 2 and "unknown environment 'mars'" in bad_env.output
    bad_set = invoke("run", "--set", "sessions.holiday_window_days=soon")
    assert bad_set.exit_code == 2 and "holiday_window_days" in bad_set.output


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "lakehouse", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "ingest" in result.stdout


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output == f"lakehouse, version {__version__}\n"


def lakehouse_process(*args, env=None):
    """``python -m lakehouse ARGS`` in a child process, as a user's shell runs it."""
    return subprocess.run(
        [sys.executable, "-m", "lakehouse", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (
            ["run"],
            {"LAKEHOUSE_CONF_DIR": "{tmp}/no-conf"},
            2,
            # a configuration problem is a usage error, in click's own format
            "Error: no base configuration at {tmp}/no-conf/base/lakehouse.yml",
        ),
        (
            ["ingest", "--lake", "{tmp}/lake", "--set", "spark.jars_dir={tmp}/no-jars"],
            {},
            1,
            "lakehouse: error: ",
        ),
        (
            ["ingest", "--lake", "{tmp}/lake"],
            {"LAKEHOUSE_SET": "spark.master=local[1]"},  # not a JSON list
            2,
            "Error: LAKEHOUSE_SET is not a JSON list of key=value strings",
        ),
        (
            ["ingest", "--lake", "{tmp}/lake"],
            {"LAKEHOUSE_LOG_LEVEL": "LOUD"},
            2,
            "Error: LAKEHOUSE_LOG_LEVEL=LOUD: expected one of DEBUG, INFO",
        ),
    ],
    ids=["missing-base-configuration", "missing-jars", "bad-lakehouse-set", "bad-log-level"],
)
def test_known_errors_end_with_one_line(tmp_path, args, env, code, message):
    """A configuration or setup problem is one line on stderr and an exit code, no traceback."""
    tmp = str(tmp_path)
    result = lakehouse_process(
        *[a.format(tmp=tmp) for a in args], env={k: v.format(tmp=tmp) for k, v in env.items()}
    )
    assert result.returncode == code, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert errors == [errors[0]] and errors[0].startswith(message.format(tmp=tmp)), result.stderr
    assert "Traceback" not in result.stderr


def landing_pii(landing: Path) -> set[str]:
    """The e-mails, phones, IPs and card numbers of a landing zone's records (canaries)."""
    found: set[str] = set()

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("email", "phone", "ipAddress") and isinstance(item, str) and item:
                    found.add(item.strip())
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in landing.rglob("*"):
        if not path.is_file() or path.parts[-2] == "_manifest":
            continue
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8", "replace")
        if "sessions" in path.parts:
            for line in text.splitlines():
                with contextlib.suppress(ValueError):
                    walk(json.loads(line))
        elif path.suffix in (".csv", ".gz") and "payments" in path.parts:
            header = text.split("\n", 1)[0]
            delimiter = max(",;\t|", key=header.count)
            for row in csv.DictReader(io.StringIO(text), delimiter=delimiter):
                for column, value in row.items():
                    name = (column or "").strip().lower()
                    if (
                        value
                        and value.strip()
                        and ("card" in name or name in ("ip_address", "email"))
                    ):
                        found.add(value.strip())
    return {value for value in found if len(value) >= 7}


def test_lakehouse_set_applies_first_and_the_commands_set_on_top(monkeypatch, tmp_path):
    """A scheduler adds --set values of its own (the DAGs' lock wait, the CronJobs'
    Pushgateway): the container's LAKEHOUSE_SET must still apply, under them."""
    import lakehouse.cli as cli_module
    from lakehouse.config import ConfigError, load_settings

    loaded = []

    def load_and_stop(*args, **kwargs):
        loaded.append(load_settings(*args, **kwargs))
        raise ConfigError("stopped after loading the configuration")

    monkeypatch.setattr(cli_module, "load_settings", load_and_stop)
    result = CliRunner().invoke(
        cli,
        ["gold", "--lake", str(tmp_path / "lake"), "--set", "lock.wait_s=600"],
        env={"LAKEHOUSE_SET": json.dumps(["lock.wait_s=5", "lock.lease_s=90"])},
    )
    assert "stopped after loading the configuration" in result.output
    (settings,) = loaded
    assert (settings.lock.wait_s, settings.lock.lease_s) == (600, 90)


def test_jobs_run_under_spark_submit(roots, tmp_path):
    """The same job file, launched by spark-submit (here on a local master), builds the lake;
    its event log (what a history server shows) holds no form of the PII key; and its whole
    output, debug logs and Spark's own included, holds none of the landing zone's e-mails,
    phones, IPs or card numbers (quarantined and malformed records among them)."""
    landing = roots[1]
    lake = str(tmp_path / "submitted-lake")
    events = tmp_path / "events"
    events.mkdir()
    key = "submit-test-key-7Qx"
    command = [
        str(PROJECT_ROOT / "infra" / "spark-submit.sh"),
        "--master",
        "local[1]",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.eventLog.enabled=true",
        "--conf",
        f"spark.eventLog.dir={events.as_uri()}",
        "--conf",
        "spark.eventLog.compress=false",  # readable here; compression does not hide a key
        str(PROJECT_ROOT / "jobs" / "run.py"),
        "--landing",
        landing,
        "--lake",
        lake,
        "-v",
    ]
    env = {
        **os.environ,
        "SPARK_SUBMIT": str(Path(sys.executable).parent / "spark-submit"),
        "LAKEHOUSE_HMAC_KEY": key,  # not on the command line, which the event log records
    }
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    # spark-submit's Python runner merges the driver's stderr (our log) into stdout
    assert "master=local[1]" in result.stdout
    for gold in ("gold/delivery_features", "gold/payments_unified"):
        assert f"{gold}" in result.stdout
    assert "-> version 0" in result.stdout

    # Spark 4 writes an event log as a folder of rolled files
    logged = "".join(f.read_text() for f in sorted(events.rglob("*")) if f.is_file())
    # the Silver plans that tokenize were logged, with their plans, and hold no key
    assert "SparkListenerSQLExecutionStart" in logged and INNER_KEY_COLUMN in logged
    assert leaks(logged, key.encode()) == []

    canaries = landing_pii(Path(landing))
    assert len(canaries) > 100
    output = result.stdout + result.stderr
    # debug logs were on, and rows were held in quarantine
    assert "DEBUG" in output and re.search(r"quarantined=[1-9]", output)
    assert [value for value in canaries if value in output] == []


def test_demo_runs_both_waves(spark, tmp_path):
    """`make demo` in small: two waves of both sources, every invariant holds."""
    result = invoke(
        "demo",
        "--workdir",
        str(tmp_path / "demo"),
        "--sessions",
        "1500",
        "--transactions",
        "600",
        "--set",
        "privacy.hmac_key=demo-test",
    )
    assert result.exit_code == 0, result.output
    assert "== second wave:" in result.output
    assert "FAIL" not in result.output and "OK   sessions" in result.output
    assert "Sample of gold/payments_unified" in result.output
    assert "Sample of gold/delivery_features" in result.output
    assert "version 1:" in result.output  # Gold moved on with the second wave
    # too few labelled rows for a model in this small demo: said, not failed
    assert "train   delivery  skipped:" in result.output
    assert "== Models ==" in result.output


def test_demo_refuses_a_folder_it_did_not_write(tmp_path, monkeypatch):
    """The demo empties its folders: a --lake or --landing holding anyone else's data is
    refused before anything is deleted."""
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    (lake / "gold").mkdir(parents=True)
    (lake / "gold" / "part-0.parquet").write_bytes(b"team data")
    (landing / "sessions").mkdir(parents=True)
    (landing / "sessions" / "export.ndjson").write_text("{}\n")
    for option, root in (("--lake", lake), ("--landing", landing)):
        result = invoke(
            "demo",
            "--workdir",
            str(tmp_path / "w"),
            option,
            str(root),
            "--set",
            "privacy.hmac_key=t",
        )
        assert result.exit_code == 2, result.output
        assert f"{root} holds data the demo did not write" in result.output
    assert (lake / "gold" / "part-0.parquet").read_bytes() == b"team data"
    assert (landing / "sessions" / "export.ndjson").exists()
    # nothing generated either (the lock of the demo's own lake aside)
    made = {p.name for p in (tmp_path / "w").rglob("*") if p.is_file()}
    assert made <= {"_lakehouse.lock"}, made
    # nor through a --workdir whose lake is the configured one (data/lake, seen from here)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    lake.rename(tmp_path / "data" / "lake")
    result = invoke("demo", "--workdir", "data", "--set", "privacy.hmac_key=t")
    assert result.exit_code == 2, result.output
    assert "holds data the demo did not write" in result.output
    assert (tmp_path / "data" / "lake" / "gold" / "part-0.parquet").read_bytes() == b"team data"


def _all_rows_invalid_landing(root: Path) -> Path:
    """A landing zone with one transactions file in which no row has a valid amount."""
    from lakehouse.contract import TRANSACTION_COLUMNS

    folder = root / "landing" / "payments" / "payment_transactions"
    folder.mkdir(parents=True)
    rows = [
        f"t{i},2024-03-01T10:00:00Z,A{i},B,abc,USD,web,toys,,,d" for i in range(3)
    ]  # amount "abc"
    (folder / "tx.csv").write_text(",".join(TRANSACTION_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    return root / "landing"


def _main(*args) -> int:
    from lakehouse.cli import main

    try:
        main(list(args))
    except SystemExit as exit_:
        return exit_.code
    return 0


def test_exit_codes_tell_a_quality_failure_and_a_crash_from_success(
    spark, tmp_path, capsys, monkeypatch
):
    landing = _all_rows_invalid_landing(tmp_path)
    common = ["--landing", str(landing), "--set", "privacy.hmac_key=cli-test"]
    lenient = _main(
        "run", "--source", "payments", "--lake", str(tmp_path / "lake-a"), *common,
        "--set", "quality.fail_on_error=false", "--log-format", "json",
    )  # fmt: skip
    out = capsys.readouterr()
    assert lenient == 0, out.err[-2000:]
    # each step's line, with its time, as soon as it ends
    assert re.search(r"silver +silver/payment_transactions .*quarantined=3.* s\)", out.out)
    # logs as JSON lines: every line one object, the steps' figures as fields
    records = [json.loads(line) for line in out.err.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    started = [r for r in records if r["message"] == "ingest payments: started"]
    assert started and started[0]["step"] == "ingest" and started[0]["source"] == "payments"
    reports = {r["report"]["table"]: r["report"] for r in records if "report" in r}
    bronze = reports["bronze/payment_transactions"]
    assert (bronze["records_read"], bronze["files_read"], bronze["batches"]) == (3, 1, 1)
    assert bronze["seconds"] > 0 and reports["silver/payment_transactions"]["quarantined"] == 3
    [gate] = [r for r in records if "gate" in r]
    assert gate["level"] == "WARNING"
    assert gate["gate"].startswith("silver/payment_transactions: 3 of 3 rows quarantined")

    strict = _main("run", "--source", "payments", "--lake", str(tmp_path / "lake-b"), *common)
    out = capsys.readouterr()
    assert strict == EXIT_DATA_QUALITY, out.err[-2000:]
    assert (
        out.err.strip()
        .splitlines()[-1]
        .startswith(
            "lakehouse: error: data quality gate failed: silver/payment_transactions: 3 of 3 rows"
        )
    )
    # what was written stands: the rows are in quarantine, with their reason
    quarantine = spark.read.format("delta").load(
        str(tmp_path / "lake-b" / "quarantine" / "payment_transactions")
    )
    assert [r["reason"] for r in quarantine.collect()] == ["invalid_amount"] * 3

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("lakehouse.pipeline.run_layer", broken)
    crash = _main("ingest", "--lake", str(tmp_path / "lake-c"), *common)
    out = capsys.readouterr()
    assert crash == EXIT_CRASH
    assert "Traceback" in out.err and "lakehouse: crash (ZeroDivisionError)" in out.err
