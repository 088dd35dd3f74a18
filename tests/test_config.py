from pathlib import Path

import pytest

from lakehouse.config import ConfigError, deep_merge, load_settings, parse_override


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def conf(tmp_path):
    write(
        tmp_path / "base" / "lakehouse.yml",
        "lake_root: base-lake\nspark:\n  conf:\n    spark.sql.shuffle.partitions: 8\n"
        "sessions:\n  holiday_window_days: 7\n",
    )
    write(tmp_path / "local" / "lakehouse.yml", "spark:\n  conf:\n    spark.ui.enabled: false\n")
    write(
        tmp_path / "prod" / "lakehouse.yml",
        "lake_root: s3a://bucket/lake\nprivacy:\n  require_key: true\n",
    )
    return tmp_path


def test_overlay_deep_merges_on_base(conf):
    settings = load_settings("local", directory=conf)
    # YAML ints and bools become the strings Spark expects; base keys survive the overlay
    assert settings.spark.conf == {"spark.sql.shuffle.partitions": "8", "spark.ui.enabled": "false"}
    assert settings.env == "local"


def test_env_variable_picks_overlay(conf, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ENV", "prod")
    settings = load_settings(directory=conf)
    assert settings.lake_root == "s3a://bucket/lake"
    assert settings.privacy.require_key is True
    assert (
        settings.table_path("gold", "delivery_features")
        == "s3a://bucket/lake/gold/delivery_features"
    )


def test_cli_roots_and_set_overrides_win(conf, tmp_path):
    settings = load_settings(
        "prod",
        directory=conf,
        lake=str(tmp_path / "lake"),
        landing="s3a://in/landing",
        overrides=["sessions.holiday_window_days=3", "spark.conf.spark.sql.shuffle.partitions=2"],
    )
    assert settings.lake_root == str(tmp_path / "lake")
    assert settings.landing_path("sessions") == "s3a://in/landing/sessions"
    assert settings.sessions.holiday_window_days == 3
    assert settings.spark.conf["spark.sql.shuffle.partitions"] == "2"
    # local roots are absolute, so every consumer agrees on one location
    assert settings.table_path("silver", "sessions") == str(
        tmp_path / "lake" / "silver" / "sessions"
    )


def test_unknown_environment_is_a_clear_error(conf):
    with pytest.raises(ConfigError, match=r"unknown environment 'qa'.*'local', 'prod'"):
        load_settings("qa", directory=conf)


def test_invalid_values_and_keys_are_rejected(conf):
    with pytest.raises(ConfigError, match="holiday_window_days"):
        load_settings("local", directory=conf, overrides=["sessions.holiday_window_days=soon"])
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_settings("local", directory=conf, overrides=["sessions.no_such_setting=1"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("sessions.holiday_window_days")


def test_fingerprint_ignores_the_secret_but_not_settings(conf):
    a = load_settings("local", directory=conf, overrides=["privacy.hmac_key=one"])
    b = load_settings("local", directory=conf, overrides=["privacy.hmac_key=two"])
    c = load_settings("local", directory=conf, overrides=["sessions.holiday_window_days=2"])
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_no_secret_reaches_a_run_s_logged_configuration(conf):
    from lakehouse.ml.training import settings_json

    secret = "redis://:s3cret-pass@cache:6379/0"
    settings = load_settings(
        "local",
        directory=conf,
        overrides=["privacy.hmac_key=k3y-material", f"serve.online_store.url={secret}"],
    )
    logged = settings_json(settings)
    assert "s3cret-pass" not in logged and "k3y-material" not in logged
    assert '"prefix":"lakehouse:velocity"' in logged  # the rest of the section is there
    plain = load_settings("local", directory=conf, overrides=["privacy.hmac_key=k3y-material"])
    assert settings.fingerprint() == plain.fingerprint()


def test_deep_merge_does_not_mutate_inputs():
    base = {"a": {"b": 1, "c": 2}}
    merged = deep_merge(base, {"a": {"b": 3}})
    assert merged == {"a": {"b": 3, "c": 2}}
    assert base == {"a": {"b": 1, "c": 2}}


def test_repository_configuration_loads_for_every_environment():
    for env in ("local", "staging", "prod"):
        settings = load_settings(env)
        assert settings.env == env
    # outside local the PII key comes from Secrets Manager
    for env in ("staging", "prod"):
        assert load_settings(env).secrets.hmac_key == f"lakehouse/{env}#hmac_key"
