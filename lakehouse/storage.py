"""Object storage settings, rendered once for each client: Spark (s3a), deltalake and boto3.

One ``storage`` configuration section (``lakehouse.config.StorageSettings``) plus the standard
AWS environment variables decide the S3 endpoint, region and addressing style; the functions
here turn them into what each client expects, so Spark, the JVM-free ``deltalake`` reader and
boto3 always reach the same buckets.

Credentials are never read, written or logged here: every client is left on the standard AWS
provider chain (environment, shared profile, web identity, container or instance role).

Pure functions of the settings and an environment mapping; no pyspark import.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from lakehouse.config import StorageSettings

ENV_ENDPOINT_S3 = "AWS_ENDPOINT_URL_S3"
ENV_ENDPOINT_DYNAMODB = "AWS_ENDPOINT_URL_DYNAMODB"
ENV_ENDPOINT = "AWS_ENDPOINT_URL"
ENV_REGION = "AWS_REGION"
ENV_DEFAULT_REGION = "AWS_DEFAULT_REGION"
# Delta's DynamoDB log store defaults to this region too
DEFAULT_REGION = "us-east-1"

S3A_PREFIX = "spark.hadoop.fs.s3a."
# The AWS SDK v2 default chain: environment, system properties, web identity, shared profile,
# container and instance credentials. S3A's own default list has no profile nor web identity.
SDK_V2_DEFAULT_CHAIN = "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
DYNAMODB_LOG_STORE = "io.delta.storage.S3DynamoDBLogStore"
DYNAMODB_CONF_PREFIX = "spark.io.delta.storage.S3DynamoDBLogStore."


@dataclass(frozen=True)
class S3Target:
    """Where S3 requests go: endpoint (None: AWS), region and addressing style."""

    endpoint: str | None
    region: str | None
    path_style: bool

    @property
    def secure(self) -> bool:
        """Whether requests use TLS (an ``http://`` endpoint turns it off)."""
        return self.endpoint is None or urlsplit(self.endpoint).scheme != "http"


def first_endpoint(*values: str | None) -> str | None:
    """The first non-blank endpoint, as a URL (a bare ``host[:port]`` means HTTPS)."""
    for value in values:
        if value and value.strip():
            endpoint = value.strip().rstrip("/")
            # a bare host[:port] means HTTPS, as the AWS SDKs read it
            return endpoint if "://" in endpoint else f"https://{endpoint}"
    return None


def resolve_endpoint(settings: StorageSettings, env: Mapping[str, str] | None = None) -> str | None:
    """The S3 endpoint: the configuration key, else ``AWS_ENDPOINT_URL_S3``, else
    ``AWS_ENDPOINT_URL``; None means AWS's own regional endpoint."""
    env = os.environ if env is None else env
    return first_endpoint(settings.s3_endpoint, env.get(ENV_ENDPOINT_S3), env.get(ENV_ENDPOINT))


def dynamodb_endpoint(
    settings: StorageSettings, env: Mapping[str, str] | None = None
) -> str | None:
    """The log store's DynamoDB endpoint: the configuration key, else
    ``AWS_ENDPOINT_URL_DYNAMODB``, else ``AWS_ENDPOINT_URL``; None means AWS's own."""
    env = os.environ if env is None else env
    return first_endpoint(
        settings.dynamodb_endpoint, env.get(ENV_ENDPOINT_DYNAMODB), env.get(ENV_ENDPOINT)
    )


def resolve_region(settings: StorageSettings, env: Mapping[str, str] | None = None) -> str | None:
    """The S3 region: the configuration key, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``."""
    env = os.environ if env is None else env
    for value in (settings.s3_region, env.get(ENV_REGION), env.get(ENV_DEFAULT_REGION)):
        if value and value.strip():
            return value.strip()
    return None


def is_local_host(endpoint: str | None) -> bool:
    """Whether the endpoint's host is an IP address or ``localhost`` (no virtual-hosted DNS)."""
    if not endpoint:
        return False
    host = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(settings: StorageSettings, env: Mapping[str, str] | None = None) -> S3Target:
    """Endpoint, region and path-style access from configuration and the environment.

    Path-style access is the ``s3_path_style`` setting when given, else on exactly when the
    endpoint's host is an IP address or ``localhost`` (a bucket name cannot be prepended to
    those as a DNS label).
    """
    endpoint = resolve_endpoint(settings, env)
    path_style = settings.s3_path_style
    if path_style is None:
        path_style = is_local_host(endpoint)
    return S3Target(endpoint=endpoint, region=resolve_region(settings, env), path_style=path_style)


def dynamodb_region(settings: StorageSettings, env: Mapping[str, str] | None = None) -> str:
    """The DynamoDB log store's region: its own key, else the S3 region, else us-east-1."""
    return settings.dynamodb_region or resolve_region(settings, env) or DEFAULT_REGION


def _bool(value: bool) -> str:
    return "true" if value else "false"


def hadoop_conf(settings: StorageSettings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``fs.s3a.*`` Hadoop settings (no ``spark.hadoop.`` prefix; credentials excluded)."""
    target = resolve(settings, env)
    conf = {
        "fs.s3a.aws.credentials.provider": SDK_V2_DEFAULT_CHAIN,
        "fs.s3a.path.style.access": _bool(target.path_style),
        "fs.s3a.connection.ssl.enabled": _bool(target.secure),
    }
    if target.endpoint:
        conf["fs.s3a.endpoint"] = target.endpoint
        # a custom endpoint needs a signing region; AWS's own endpoint finds the bucket's
        conf["fs.s3a.endpoint.region"] = target.region or DEFAULT_REGION
    elif target.region:
        conf["fs.s3a.endpoint.region"] = target.region
    return conf


def spark_conf(settings: StorageSettings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Spark settings for ``s3a://`` paths and, when configured, the DynamoDB log store."""
    conf = {f"spark.hadoop.{key}": value for key, value in hadoop_conf(settings, env).items()}
    if settings.log_store == "dynamodb":
        conf["spark.delta.logStore.s3a.impl"] = DYNAMODB_LOG_STORE
        conf["spark.delta.logStore.s3.impl"] = DYNAMODB_LOG_STORE
        conf[f"{DYNAMODB_CONF_PREFIX}ddb.tableName"] = settings.dynamodb_table
        conf[f"{DYNAMODB_CONF_PREFIX}ddb.region"] = dynamodb_region(settings, env)
        endpoint = dynamodb_endpoint(settings, env)
        if endpoint:
            # the project's build of the log store reads it (infra/jvm/delta-storage-s3-dynamodb)
            conf[f"{DYNAMODB_CONF_PREFIX}ddb.endpoint"] = endpoint
    return conf


def to_s3_uri(uri: str) -> str:
    """``s3a://bucket/key`` (Hadoop's scheme) as ``s3://bucket/key`` (deltalake's, boto3's)."""
    for scheme in ("s3a://", "s3n://"):
        if uri.startswith(scheme):
            return "s3://" + uri.removeprefix(scheme)
    return uri


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3[a]://bucket/some/key`` -> ``("bucket", "some/key")``."""
    parts = urlsplit(to_s3_uri(uri))
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an S3 URI: {uri!r}")
    return parts.netloc, parts.path.lstrip("/")


def is_s3_uri(uri: str) -> bool:
    """Whether ``uri`` names an S3 location (``s3://``, ``s3a://`` or ``s3n://``)."""
    return uri.startswith(("s3://", "s3a://", "s3n://"))


def delta_storage_options(
    settings: StorageSettings, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``storage_options`` for the ``deltalake`` package (delta-rs) on S3, for reading;
    no credentials.

    delta-rs reads credentials from the same environment (and profile) by itself.
    """
    target = resolve(settings, env)
    options: dict[str, str] = {
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": _bool(not target.path_style),
    }
    if target.endpoint:
        options["AWS_ENDPOINT_URL"] = target.endpoint
        options["AWS_REGION"] = target.region or DEFAULT_REGION
        if not target.secure:
            options["AWS_ALLOW_HTTP"] = "true"
    elif target.region:
        options["AWS_REGION"] = target.region
    # No locking provider even with storage.log_store=dynamodb: the service only reads, a
    # reader needs no lock (a commit not yet copied from DynamoDB to S3 is simply not seen
    # yet), and delta-rs no longer implements Delta's S3DynamoDBLogStore protocol anyway.
    return options


def delta_table_args(
    uri: str, settings: StorageSettings, env: Mapping[str, str] | None = None
) -> tuple[str, dict[str, str] | None]:
    """``(table_uri, storage_options)`` for ``deltalake.DeltaTable``: S3 URIs get the
    ``s3://`` scheme and the options, local paths neither."""
    if is_s3_uri(uri):
        return to_s3_uri(uri), delta_storage_options(settings, env)
    return uri, None


def boto3_client_kwargs(
    settings: StorageSettings, env: Mapping[str, str] | None = None
) -> dict[str, object]:
    """Keyword arguments for ``boto3.client("s3", **kwargs)`` (credentials left to boto3)."""
    target = resolve(settings, env)
    kwargs: dict[str, object] = {}
    if target.endpoint:
        kwargs["endpoint_url"] = target.endpoint
        kwargs["region_name"] = target.region or DEFAULT_REGION
    elif target.region:
        kwargs["region_name"] = target.region
    if target.path_style:
        # imported lazily: botocore is a dependency of boto3, only needed by its callers
        from botocore.config import Config

        kwargs["config"] = Config(s3={"addressing_style": "path"})
    return kwargs
