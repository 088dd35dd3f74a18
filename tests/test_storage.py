"""Object-storage settings rendered for Spark, deltalake and boto3 (no Spark, no servers)."""

from __future__ import annotations

import pytest

from lakehouse.config import StorageSettings, load_settings
from lakehouse.storage import (
    DYNAMODB_LOG_STORE,
    SDK_V2_DEFAULT_CHAIN,
    boto3_client_kwargs,
    delta_storage_options,
    delta_table_args,
    hadoop_conf,
    is_local_host,
    resolve,
    resolve_endpoint,
    spark_conf,
    split_s3_uri,
    to_s3_uri,
)

MOTO = "http://127.0.0.1:5123"


def test_endpoint_config_key_wins_then_s3_env_then_generic_env():
    env = {"AWS_ENDPOINT_URL_S3": "http://s3-only:1", "AWS_ENDPOINT_URL": "http://all:2"}
    assert resolve_endpoint(StorageSettings(s3_endpoint="http://conf:3"), env) == "http://conf:3"
    assert resolve_endpoint(StorageSettings(), env) == "http://s3-only:1"
    assert resolve_endpoint(StorageSettings(), {"AWS_ENDPOINT_URL": "http://all:2/"}) == (
        "http://all:2"
    )
    assert resolve_endpoint(StorageSettings(), {}) is None
    # a bare host means HTTPS, as the AWS SDKs read it
    assert resolve_endpoint(StorageSettings(s3_endpoint="minio.internal:9000"), {}) == (
        "https://minio.internal:9000"
    )


@pytest.mark.parametrize(
    ("endpoint", "local"),
    [
        ("http://127.0.0.1:5000", True),
        ("http://localhost:9000", True),
        ("http://[::1]:9000", True),
        ("https://10.1.2.3", True),
        ("https://s3.eu-west-1.amazonaws.com", False),
        ("https://minio.example.com", False),
        (None, False),
    ],
)
def test_path_style_is_automatic_for_ip_and_localhost(endpoint, local):
    assert is_local_host(endpoint) is local
    assert resolve(StorageSettings(s3_endpoint=endpoint), {}).path_style is local


def test_path_style_setting_overrides_the_rule():
    forced = StorageSettings(s3_endpoint="https://minio.example.com", s3_path_style=True)
    assert resolve(forced, {}).path_style is True
    off = StorageSettings(s3_endpoint=MOTO, s3_path_style=False)
    assert resolve(off, {}).path_style is False


def test_region_from_config_then_env():
    assert resolve(StorageSettings(s3_region="eu-west-1"), {"AWS_REGION": "x"}).region == (
        "eu-west-1"
    )
    assert resolve(StorageSettings(), {"AWS_REGION": "eu-central-1"}).region == "eu-central-1"
    assert resolve(StorageSettings(), {"AWS_DEFAULT_REGION": "us-west-2"}).region == "us-west-2"
    assert resolve(StorageSettings(), {}).region is None


def test_spark_conf_for_a_local_http_endpoint():
    conf = spark_conf(StorageSettings(), {"AWS_ENDPOINT_URL": MOTO, "AWS_REGION": "eu-west-1"})
    assert conf == {
        "spark.hadoop.fs.s3a.endpoint": MOTO,
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": SDK_V2_DEFAULT_CHAIN,
    }


def test_spark_conf_on_aws_sets_no_endpoint():
    conf = hadoop_conf(StorageSettings(), {"AWS_REGION": "eu-west-1"})
    assert "fs.s3a.endpoint" not in conf
    assert conf["fs.s3a.endpoint.region"] == "eu-west-1"
    assert conf["fs.s3a.path.style.access"] == "false"
    assert conf["fs.s3a.connection.ssl.enabled"] == "true"


def test_spark_conf_dynamodb_log_store():
    settings = StorageSettings(log_store="dynamodb", dynamodb_table="locks", s3_region="eu-west-1")
    conf = spark_conf(settings, {})
    assert conf["spark.delta.logStore.s3a.impl"] == DYNAMODB_LOG_STORE
    prefix = "spark.io.delta.storage.S3DynamoDBLogStore."
    assert conf[prefix + "ddb.tableName"] == "locks"
    assert conf[prefix + "ddb.region"] == "eu-west-1"
    own = StorageSettings(log_store="dynamodb", dynamodb_region="ap-south-1")
    assert spark_conf(own, {})[prefix + "ddb.region"] == "ap-south-1"
    assert "spark.delta.logStore.s3a.impl" not in spark_conf(StorageSettings(), {})
    assert prefix + "ddb.endpoint" not in conf


def test_dynamodb_endpoint_follows_the_aws_variables():
    prefix = "spark.io.delta.storage.S3DynamoDBLogStore."
    settings = StorageSettings(log_store="dynamodb")
    shared = {"AWS_ENDPOINT_URL": MOTO}
    assert spark_conf(settings, shared)[prefix + "ddb.endpoint"] == MOTO
    own = {**shared, "AWS_ENDPOINT_URL_DYNAMODB": "localhost:8000"}
    assert spark_conf(settings, own)[prefix + "ddb.endpoint"] == "https://localhost:8000"
    configured = StorageSettings(log_store="dynamodb", dynamodb_endpoint="http://ddb:8000/")
    assert spark_conf(configured, own)[prefix + "ddb.endpoint"] == "http://ddb:8000"


def test_no_credentials_in_any_rendering():
    env = {
        "AWS_ACCESS_KEY_ID": "AKIDSECRET",
        "AWS_SECRET_ACCESS_KEY": "very-secret",
        "AWS_SESSION_TOKEN": "token-secret",
        "AWS_ENDPOINT_URL": MOTO,
    }
    settings = StorageSettings(log_store="dynamodb")
    rendered = [
        spark_conf(settings, env),
        delta_storage_options(settings, env),
        {k: str(v) for k, v in boto3_client_kwargs(settings, env).items()},
    ]
    for conf in rendered:
        text = repr(conf)
        for secret in ("AKIDSECRET", "very-secret", "token-secret"):
            assert secret not in text
        assert not any("secret" in key.lower() or "access.key" in key.lower() for key in conf)


def test_deltalake_options_for_local_http_endpoint():
    options = delta_storage_options(StorageSettings(), {"AWS_ENDPOINT_URL": MOTO})
    assert options == {
        "AWS_ENDPOINT_URL": MOTO,
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
    }


def test_deltalake_reads_without_a_locking_provider_even_with_the_dynamodb_log_store():
    settings = StorageSettings(log_store="dynamodb", dynamodb_table="locks")
    options = delta_storage_options(settings, {"AWS_REGION": "eu-west-1"})
    assert options == {"AWS_REGION": "eu-west-1", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "true"}


def test_uri_conversion():
    assert to_s3_uri("s3a://bucket/lake/gold/t") == "s3://bucket/lake/gold/t"
    assert to_s3_uri("s3://bucket/x") == "s3://bucket/x"
    assert to_s3_uri("/tmp/lake/gold/t") == "/tmp/lake/gold/t"
    assert split_s3_uri("s3a://bucket/some/key.json") == ("bucket", "some/key.json")
    with pytest.raises(ValueError):
        split_s3_uri("/tmp/x")
    uri, options = delta_table_args("s3a://b/lake/t", StorageSettings(), {"AWS_ENDPOINT_URL": MOTO})
    assert uri == "s3://b/lake/t"
    assert options["AWS_ENDPOINT_URL"] == MOTO
    assert delta_table_args("/tmp/lake/t", StorageSettings(), {}) == ("/tmp/lake/t", None)


def test_boto3_kwargs():
    kwargs = boto3_client_kwargs(StorageSettings(), {"AWS_ENDPOINT_URL": MOTO})
    assert kwargs["endpoint_url"] == MOTO
    assert kwargs["region_name"] == "us-east-1"
    assert kwargs["config"].s3 == {"addressing_style": "path"}
    assert boto3_client_kwargs(StorageSettings(), {"AWS_REGION": "eu-west-1"}) == {
        "region_name": "eu-west-1"
    }


def test_environments_configure_the_log_store():
    assert load_settings("local").storage.log_store == "default"
    for env in ("staging", "prod"):
        storage = load_settings(env).storage
        assert storage.log_store == "dynamodb"
        assert storage.dynamodb_table == f"lakehouse_{env}_delta_log"
        assert storage.s3_endpoint is None


def test_storage_module_does_not_import_pyspark():
    import subprocess
    import sys

    code = "import sys, lakehouse.storage; print('pyspark' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# --- the JVM side: jars and the session's settings (no session started) ---


def test_hadoop_aws_is_at_pysparks_hadoop_version():
    import re
    from pathlib import Path

    import pyspark

    from lakehouse.config import PROJECT_ROOT

    shipped = sorted(Path(pyspark.__file__).parent.joinpath("jars").glob("hadoop-client-api-*.jar"))
    assert len(shipped) == 1
    hadoop = shipped[0].name.removeprefix("hadoop-client-api-").removesuffix(".jar")
    pom = (PROJECT_ROOT / "infra" / "jvm" / "pom.xml").read_text()
    assert re.search(r"<hadoop.version>([^<]+)</hadoop.version>", pom).group(1) == hadoop
    jars = {p.name for p in (PROJECT_ROOT / ".jars").glob("*.jar")}
    assert f"hadoop-aws-{hadoop}.jar" in jars
    assert any(name.startswith("bundle-2.") for name in jars), "AWS SDK v2 bundle missing"
    # Spark's own Hadoop client must not be shadowed by another version
    assert not any(name.startswith("hadoop-client-") for name in jars)


def test_session_conf_has_storage_under_configuration():
    from lakehouse.config import SparkSettings
    from lakehouse.spark import build_conf

    storage = StorageSettings(s3_endpoint=MOTO)
    spark = SparkSettings(conf={"spark.hadoop.fs.s3a.path.style.access": "false"})
    conf = build_conf(spark, {"spark.master": "local[1]"}, storage=storage)
    assert conf["spark.hadoop.fs.s3a.endpoint"] == MOTO
    # explicit spark.conf settings still win over the rendered ones
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "false"
    assert "spark.hadoop.fs.s3a.endpoint" not in build_conf(spark)


def test_dynamodb_log_store_needs_its_jar():
    from lakehouse.spark import JarsMissingError, _require_dynamodb_log_store

    with pytest.raises(JarsMissingError, match="delta-storage-s3-dynamodb"):
        _require_dynamodb_log_store(["/x/delta-spark_4.2_2.13-4.4.0.jar"])
    _require_dynamodb_log_store(["/x/delta-storage-s3-dynamodb-4.4.0.jar"])
