"""The real servers the object-storage and tracking tests run against (tests/support/servers.py)."""

from __future__ import annotations

from pathlib import Path


def test_moto_serves_s3_dynamodb_and_secrets(moto):
    assert moto.endpoint.startswith("http://127.0.0.1:")
    moto.create_bucket("servers-test")
    s3 = moto.client("s3")
    s3.put_object(Bucket="servers-test", Key="a/b.txt", Body=b"hello")
    assert s3.get_object(Bucket="servers-test", Key="a/b.txt")["Body"].read() == b"hello"

    secrets = moto.client("secretsmanager")
    secrets.create_secret(Name="lakehouse/test-hmac", SecretString="not-a-real-key")
    value = secrets.get_secret_value(SecretId="lakehouse/test-hmac")["SecretString"]
    assert value == "not-a-real-key"

    dynamodb = moto.client("dynamodb")
    dynamodb.create_table(
        TableName="servers_test",
        KeySchema=[{"AttributeName": "tablePath", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tablePath", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert "servers_test" in dynamodb.list_tables()["TableNames"]


def test_postgres_accepts_connections(postgres):
    import psycopg2

    assert postgres.uri.startswith("postgresql+psycopg2://")
    connection = psycopg2.connect(
        host=postgres.host, port=postgres.port, user=postgres.user, dbname=postgres.database
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("select 1")
            assert cursor.fetchone() == (1,)
    finally:
        connection.close()


def test_mlflow_server_tracks_in_postgres_and_stores_artifacts_in_s3(mlflow_server, moto, tmp_path):
    client = mlflow_server.client()
    experiment = client.create_experiment("servers-test")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "m", 1.5)
    client.log_text(run.info.run_id, "hello", "notes/hello.txt")
    client.set_terminated(run.info.run_id)

    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.5}
    # clients only know the server: artifacts are proxied (mlflow-artifacts:/)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    local = client.download_artifacts(run.info.run_id, "notes/hello.txt", dst_path=str(tmp_path))
    assert Path(local).read_text() == "hello"
    # ... and the server wrote them to the S3 bucket
    bucket, _, prefix = mlflow_server.artifacts_destination.removeprefix("s3://").partition("/")
    keys = [o["Key"] for o in moto.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith(prefix) and k.endswith("notes/hello.txt") for k in keys), keys
    # runs live in PostgreSQL, not in a file store
    assert mlflow_server.backend_store_uri.startswith("postgresql+psycopg2://")
