"""Secrets (``lakehouse.secrets``) against a real Secrets Manager (moto's server on loopback):
where each secret comes from in each environment, and that a command outside ``local`` stops
before it touches data when one is missing."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid

import click
import pytest

from lakehouse import secrets
from lakehouse.config import load_settings
from lakehouse.errors import EXIT_SECRET
from lakehouse.secrets import DEVELOPMENT_KEY, SecretError
from tests.support.lake import NO_SUITES


@pytest.fixture(autouse=True)
def fresh_cache():
    secrets.clear_cache()
    yield
    secrets.clear_cache()


@pytest.fixture
def aws(moto, monkeypatch):
    """This process's AWS environment points at moto."""
    for key, value in moto.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LAKEHOUSE_HMAC_KEY", raising=False)
    return moto


def put_secret(moto, value: str | bytes) -> str:
    """A new secret holding ``value``; returns its name."""
    name = f"lakehouse/test/{uuid.uuid4().hex[:8]}"
    client = moto.client("secretsmanager")
    if isinstance(value, bytes):
        client.create_secret(Name=name, SecretBinary=value)
    else:
        client.create_secret(Name=name, SecretString=value)
    return name


def settings(env: str = "local", *sets: str):
    return load_settings(env, overrides=list(sets))


# --- local: a setting, the environment, or the development key ------------------------------


def test_local_key_from_setting_then_environment(monkeypatch):
    monkeypatch.setenv("MY_KEY", "from-env")
    assert secrets.hmac_key(settings("local", "privacy.hmac_key_env=MY_KEY")) == b"from-env"
    assert secrets.hmac_key(settings("local", "privacy.hmac_key=from-set")) == b"from-set"


def test_local_development_key_warns_loudly_without_printing_it(monkeypatch, caplog):
    monkeypatch.delenv("LAKEHOUSE_HMAC_KEY", raising=False)
    with caplog.at_level(logging.WARNING):
        assert secrets.hmac_key(settings()) == DEVELOPMENT_KEY
    assert "DEVELOPMENT HMAC KEY" in caplog.text
    assert DEVELOPMENT_KEY.decode() not in caplog.text


def test_local_required_key_missing_is_an_error(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_HMAC_KEY", raising=False)
    with pytest.raises(SecretError, match="LAKEHOUSE_HMAC_KEY") as caught:
        secrets.hmac_key(settings("local", "privacy.require_key=true"))
    assert caught.value.exit_code == EXIT_SECRET


# --- Secrets Manager ----------------------------------------------------------------------


def test_key_from_a_plain_secret_wins_over_the_environment(aws, monkeypatch):
    name = put_secret(aws, "plain-secret-key")
    monkeypatch.setenv("LAKEHOUSE_HMAC_KEY", "env-key")
    for env in ("local", "staging", "prod"):
        secrets.clear_cache()
        assert secrets.hmac_key(settings(env, f"secrets.hmac_key={name}")) == b"plain-secret-key"


def test_key_from_a_field_of_a_json_secret(aws):
    name = put_secret(aws, json.dumps({"hmac_key": "json-field-key", "other": "x"}))
    assert secrets.hmac_key(settings("prod", f"secrets.hmac_key={name}#hmac_key")) == (
        b"json-field-key"
    )


def test_key_from_a_binary_secret(aws):
    name = put_secret(aws, b"\x00binary\xffkey")
    assert secrets.hmac_key(settings("staging", f"secrets.hmac_key={name}")) == b"\x00binary\xffkey"


def test_a_secret_is_read_once_per_process(aws):
    name = put_secret(aws, "first")
    configured = settings("staging", f"secrets.hmac_key={name}")
    assert secrets.hmac_key(configured) == b"first"
    aws.client("secretsmanager").put_secret_value(SecretId=name, SecretString="rotated")
    assert secrets.hmac_key(configured) == b"first"
    secrets.clear_cache()
    assert secrets.hmac_key(configured) == b"rotated"


@pytest.mark.parametrize(
    ("stored", "suffix", "reason"),
    [
        (None, "", "ResourceNotFoundException"),
        (json.dumps({"a": "b"}), "#hmac_key", "has no field 'hmac_key'"),
        ("not json", "#hmac_key", "is not JSON"),
        (json.dumps({"hmac_key": 7}), "#hmac_key", "is not a string"),
        ("   ", "", "is empty"),
    ],
    ids=["missing", "no-field", "not-json", "not-a-string", "empty"],
)
def test_an_unreadable_secret_is_one_clear_error(aws, stored, suffix, reason):
    name = put_secret(aws, stored) if stored is not None else "lakehouse/test/nothing-here"
    with pytest.raises(SecretError, match=reason) as caught:
        secrets.hmac_key(settings("staging", f"secrets.hmac_key={name}{suffix}"))
    message = str(caught.value)
    assert name in message and "\n" not in message
    if stored and stored.strip():
        assert stored not in message


def test_no_region_is_a_clear_error(moto, monkeypatch):
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    with pytest.raises(SecretError, match="no region"):
        secrets.hmac_key(settings("prod", "secrets.hmac_key=some/secret"))


# --- outside local nothing else is accepted --------------------------------------------------


@pytest.mark.parametrize("env", ["staging", "prod"])
@pytest.mark.parametrize(
    "sets",
    [
        [],
        ["privacy.hmac_key=typed-on-the-command-line"],
        ["privacy.require_key=false"],
    ],
    ids=["nothing", "set-key", "require-off"],
)
def test_outside_local_only_secrets_manager_counts(monkeypatch, env, sets):
    monkeypatch.setenv("LAKEHOUSE_HMAC_KEY", "an-env-key")
    with pytest.raises(SecretError, match=r"secrets\.hmac_key"):
        # (the repository's staging and prod name a secret: take it away)
        secrets.hmac_key(settings(env, "secrets.hmac_key=null", *sets))


def test_the_development_key_is_refused_outside_local(aws):
    name = put_secret(aws, DEVELOPMENT_KEY.decode())
    assert secrets.hmac_key(settings("local", f"secrets.hmac_key={name}")) == DEVELOPMENT_KEY
    with pytest.raises(SecretError, match="development key"):
        secrets.hmac_key(settings("staging", f"secrets.hmac_key={name}"))


# --- the tracking database's password --------------------------------------------------------


def test_password_goes_into_a_database_uri_only():
    uri = "postgresql+psycopg2://app@db.internal:5432/mlflow"
    assert secrets.with_password(uri, "p@ss/w:rd") == (
        "postgresql+psycopg2://app:p%40ss%2Fw%3Ard@db.internal:5432/mlflow"
    )
    assert secrets.with_password("http://mlflow:5000", "pw") == "http://mlflow:5000"
    # an encoded user name stays encoded once
    assert secrets.with_password("postgresql://a%40corp@db/m", "pw") == (
        "postgresql://a%40corp:pw@db/m"
    )
    assert secrets.with_password("postgresql://db/mlflow", "pw") == "postgresql://db/mlflow"
    assert secrets.with_password(uri, None) == uri
    assert secrets.redact_uri(secrets.with_password(uri, "pw")) == (
        "postgresql+psycopg2://app:***@db.internal:5432/mlflow"
    )


def test_tracking_uri_carries_the_secret_password(aws, monkeypatch):
    from lakehouse.ml.tracking import tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    name = put_secret(aws, json.dumps({"password": "db-pw"}))
    configured = settings(
        "staging",
        "ml.tracking_uri=postgresql://app@db:5432/mlflow",
        f"secrets.tracking_db_password={name}#password",
    )
    assert tracking_uri(configured) == "postgresql://app:db-pw@db:5432/mlflow"


def test_cli_reaches_the_registry_with_the_password_from_the_secret(aws, postgres, mlflow_server):
    """A real PostgreSQL that asks this user for a password (mlflow_server made the schema):
    ``lakehouse models`` gets in with the secret's password and prints it nowhere."""
    import psycopg2

    password = f"pw-{uuid.uuid4().hex}"
    user = f"app_{uuid.uuid4().hex[:6]}"
    postgres.add_password_user(user, password)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host=postgres.host, port=postgres.port, user=user, password="wrong", dbname="mlflow"
        ).close()

    env = {**os.environ, **aws.env, "LAKEHOUSE_ENV": "local"}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "lakehouse", "models", "-v"]
    command += [
        f"--set=ml.tracking_uri={postgres.uri_for(user)}",
        f"--set=secrets.tracking_db_password={put_secret(aws, password)}",
    ]
    listed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert password not in listed.stdout + listed.stderr


def test_the_service_reaches_redis_with_the_url_from_the_secret(aws, redis_server, tmp_path):
    """A real Redis user that needs a password (an ACL user): the shared velocity state
    connects with the secret's URL, which wins over the configured one; the configured URL
    without the password is refused by the server."""
    import redis

    from lakehouse.features.fraud_online import load_velocity_state

    password = f"pw-{uuid.uuid4().hex}"
    user = f"serving-{uuid.uuid4().hex[:6]}"
    redis_server.client().acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all"]
    )
    bare = redis_server.url.replace("redis://", f"redis://{user}@")
    full = redis_server.url.replace("redis://", f"redis://{user}:{password}@")
    lake = str(tmp_path / "lake")  # no Silver yet: the state is fed with nothing
    configured = [f"serve.online_store.url={bare}", "serve.online_store.load_wait_s=5"]
    secret = f"secrets.online_store_url={put_secret(aws, json.dumps({'url': full}))}#url"
    state = load_velocity_state(load_settings("local", lake=lake, overrides=[*configured, secret]))
    assert state.held_transactions == 0
    assert redis_server.client().keys(f"{state.prefix}*")  # it wrote, as that user
    with pytest.raises(redis.AuthenticationError):
        load_velocity_state(load_settings("local", lake=lake, overrides=configured))


def test_an_unreadable_online_store_url_stops_the_service(aws, tmp_path, capsys):
    err = refused(
        "serve",
        tmp_path,
        "staging",
        "secrets.online_store_url=lakehouse/test/missing",
        capsys=capsys,
    )
    assert "online store URL" in err and "ResourceNotFoundException" in err


# --- every command fails closed -----------------------------------------------------------------

# each command's arguments (a group's commands as "group command"); `generate` needs no secret
# (it writes made-up data)
COMMAND_ARGS = {
    "ingest": [],
    "silver": [],
    "gold": [],
    "run": [],
    "train": ["delivery"],
    "retrain": ["delivery"],
    "promote": ["delivery"],
    "rollback": ["delivery"],
    "reproduce": ["0123456789abcdef"],
    "score": ["delivery"],
    "maintain": [],
    "forget": ["--account-id", "AC00000001"],
    "report": [],
    "check": [],
    "history": ["gold/delivery_features"],
    "demo": [],
    "models": [],
    "serve": [],
    "quarantine list": [],
    "quarantine replay": [],
    "catalog sync": [],
    "sql": ["SELECT 1"],
    "sql-server": [],
    "stream": ["--cycles", "1"],
}
NO_PII_KEY = {"serve", "models", "rollback", "catalog sync", "sql", "sql-server"}


def leaf_commands(group: click.Group, prefix: str = "") -> set[str]:
    """Every runnable command under ``group``, a subgroup's as "group command"."""
    names = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names |= leaf_commands(command, f"{prefix}{name} ")
        else:
            names.add(f"{prefix}{name}")
    return names


def test_every_command_is_listed():
    from lakehouse.cli import cli

    # `generate` and `api-key` read no secret and touch no lake; `smoke` and `canary-judge`
    # only call a deployed service and Prometheus
    assert set(COMMAND_ARGS) == leaf_commands(cli) - {
        "generate",
        "api-key create",
        "api-key revoke",
        "smoke",
        "canary-judge",
    }


def refused(command: str, tmp_path, env: str, *sets: str, capsys) -> str:
    """Run ``lakehouse COMMAND`` in this process; assert exit 78 and an untouched lake and
    landing zone; return stderr."""
    from lakehouse.cli import main

    landing, lake, workdir = tmp_path / "landing", tmp_path / "lake", tmp_path / "work"
    landing.mkdir()
    (landing / "sentinel.txt").write_text("x")
    args = [*command.split(), *COMMAND_ARGS[command], "--env", env, "--landing", str(landing)]
    args += ["--lake", str(lake), *[f"--set={item}" for item in sets]]
    if command == "demo":
        args += ["--workdir", str(workdir)]
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = capsys.readouterr().err
    assert exited.value.code == EXIT_SECRET, err
    assert err.strip().count("\n") == 0 and err.startswith("lakehouse: error: "), err
    assert "Traceback" not in err
    assert not lake.exists() and not workdir.exists()
    assert [p.name for p in landing.iterdir()] == ["sentinel.txt"]
    return err


@pytest.mark.parametrize("env", ["staging", "prod"])
@pytest.mark.parametrize("command", sorted(set(COMMAND_ARGS) - NO_PII_KEY))
def test_without_the_key_a_command_stops_before_touching_data(
    monkeypatch, tmp_path, capsys, env, command
):
    # neither the variable nor a setting nor switching the requirement off lets it start
    monkeypatch.setenv("LAKEHOUSE_HMAC_KEY", "an-env-key")
    err = refused(
        command,
        tmp_path,
        env,
        "secrets.hmac_key=null",
        "privacy.hmac_key=on-the-command-line",
        "privacy.require_key=false",
        capsys=capsys,
    )
    assert "secrets.hmac_key" in err and "an-env-key" not in err


@pytest.mark.parametrize("command", sorted(COMMAND_ARGS))
def test_an_unreadable_tracking_password_stops_every_command(aws, tmp_path, capsys, command):
    name = put_secret(aws, "the-key")
    err = refused(
        command,
        tmp_path,
        "staging",
        f"secrets.hmac_key={name}",
        "secrets.tracking_db_password=lakehouse/test/missing",
        capsys=capsys,
    )
    assert "tracking database password" in err and "ResourceNotFoundException" in err


@pytest.mark.integration
def test_a_staging_run_tokenizes_with_the_secret_and_never_logs_it(spark, aws, tmp_path):
    """``lakehouse run`` in staging, its key from Secrets Manager: Silver's tokens are that
    key's, and no line the command prints (debug logging on) holds the key."""
    from datetime import date

    from pyspark.sql import functions as F

    from lakehouse.bronze.encryption import reveal_raw
    from lakehouse.generate import generate_sessions_landing
    from lakehouse.io.delta import read_table
    from lakehouse.privacy import normalize_email_py, token_of
    from lakehouse.tables import BRONZE_SESSIONS, SILVER_SESSIONS

    key = f"staging-key-{uuid.uuid4().hex}"
    name = put_secret(aws, json.dumps({"hmac_key": key}))
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    generate_sessions_landing(
        landing, documents=120, seed=5, start=date(2024, 3, 1), days=10, workers=1
    )
    env = {**os.environ, **aws.env, "LAKEHOUSE_ENV": "staging"}
    command = [sys.executable, "-m", "lakehouse", "run", "--source", "sessions", "-v"]
    command += ["--landing", str(landing), "--lake", str(lake)]
    for item in (
        f"secrets.hmac_key={name}#hmac_key",
        "spark.master=local[1]",
        "spark.conf.spark.driver.memory=1g",
        # small data (staging's own settings are a cluster's): few partitions, no web UI
        "spark.conf.spark.sql.shuffle.partitions=2",
        "spark.conf.spark.databricks.delta.snapshotPartitions=2",
        "spark.conf.spark.ui.enabled=false",
        # secrets, not data quality (tests/quality)
        NO_SUITES,
    ):
        command.append(f"--set={item}")
    ran = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert key not in ran.stdout + ran.stderr

    settings_ = load_settings("staging", lake=str(lake))
    bronze = read_table(spark, settings_.table_path(*BRONZE_SESSIONS))
    raw = reveal_raw(bronze, "sessions", key.encode()).select(
        F.coalesce(
            F.get_json_object("raw_record", "$.customer.email"),
            F.get_json_object("raw_record", "$._source.customer.email"),
        )
    )
    expected = {token_of(normalize_email_py(r[0]), key.encode()) for r in raw.collect() if r[0]}
    tokens = {
        r[0]
        for r in read_table(spark, settings_.table_path(*SILVER_SESSIONS))
        .select("customer_email_token")
        .collect()
        if r[0]
    }
    assert tokens and tokens <= expected
