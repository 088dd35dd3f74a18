"""The project's secrets: the PII tokenization key and the tracking database's password.

Where each comes from:

- **AWS Secrets Manager** (boto3), when the ``secrets`` section names a secret id, in every
  environment. ``id#field`` takes one field of a JSON secret (``{"hmac_key": "..."}``).
- In ``local`` only: the HMAC key may also come from ``privacy.hmac_key`` or the environment
  variable named by ``privacy.hmac_key_env``, and without either from the public development
  key (loudly), unless ``privacy.require_key`` is set.

Outside ``local`` the rules cannot be switched off: the key must come from Secrets Manager
and must not be the development key. ``check`` runs before a command opens the lake or
starts Spark, so a missing, unreadable or refused secret stops it with one line
(``SecretError``, exit code 78) before any data is touched.

Values are read once per process and kept here only: never in ``Settings`` (which is logged
with every training run), never in a log line or an error message.

No pyspark import: the service uses this module too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from lakehouse.config import DEFAULT_ENV, Settings
from lakehouse.errors import EXIT_SECRET, LakehouseError

log = logging.getLogger(__name__)

# Public on purpose: it only exists so that a laptop demo runs without setup.
DEVELOPMENT_KEY = b"lakehouse-development-key-not-for-production"

ENV_ENDPOINT_SECRETS = "AWS_ENDPOINT_URL_SECRETS_MANAGER"
FIELD_SEPARATOR = "#"


# The AWS SDK's debug logs carry whole request and response bodies: a secret's value, too
SDK_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3")


def keep_secrets_out_of_logs() -> None:
    """Cap the AWS SDK's loggers at INFO, whatever the root level (``-v`` turns on DEBUG);
    the SDK's note of where it found credentials, at WARNING (it would be a second line on
    every command's stderr, an error's included)."""
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
    credentials = logging.getLogger("botocore.credentials")
    if credentials.getEffectiveLevel() < logging.WARNING:
        credentials.setLevel(logging.WARNING)


class SecretError(LakehouseError, RuntimeError):
    """A secret is missing, unreadable, or not allowed where the command runs."""

    exit_code = EXIT_SECRET


# (secret id, endpoint, region) -> value; a process reads each secret once
_cache: dict[tuple[str, str | None, str | None], bytes] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every secret read so far (a rotated secret is read again)."""
    with _lock:
        _cache.clear()


def is_local(settings: Settings) -> bool:
    """Whether the command runs in the ``local`` environment (a laptop, CI, the demo)."""
    return settings.env == DEFAULT_ENV


def _client_target(settings: Settings) -> tuple[str | None, str | None]:
    from lakehouse.storage import ENV_ENDPOINT, first_endpoint, resolve_region

    endpoint = first_endpoint(
        settings.secrets.endpoint,
        os.environ.get(ENV_ENDPOINT_SECRETS),
        os.environ.get(ENV_ENDPOINT),
    )
    region = settings.secrets.region or resolve_region(settings.storage)
    return endpoint, region


def read_secret(settings: Settings, secret_id: str, what: str) -> bytes:
    """The value of ``secret_id`` (``name``, ``arn`` or ``name#field``) from Secrets Manager.

    Raises:
        SecretError: Naming the secret id and the reason; never the value.
    """
    name, _, field = secret_id.partition(FIELD_SEPARATOR)
    endpoint, region = _client_target(settings)
    key = (secret_id, endpoint, region)
    with _lock:
        if key in _cache:
            return _cache[key]
    if not region:
        raise SecretError(
            f"cannot read the {what} from AWS Secrets Manager ({name}): no region; set "
            "secrets.region or AWS_REGION"
        )
    value = _fetch(name, endpoint, region, what)
    if field:
        value = _json_field(value, name, field, what)
    if not value.strip():
        raise SecretError(f"the {what} in AWS Secrets Manager ({secret_id}) is empty")
    with _lock:
        _cache[key] = value
    return value


def _fetch(name: str, endpoint: str | None, region: str, what: str) -> bytes:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=region)
        answer = client.get_secret_value(SecretId=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SecretError(
            f"cannot read the {what} from AWS Secrets Manager ({name}): {code}"
        ) from None
    except BotoCoreError as exc:
        # e.g. no credentials, endpoint unreachable; the message names no secret value
        raise SecretError(
            f"cannot read the {what} from AWS Secrets Manager ({name}): {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    if answer.get("SecretString") is not None:
        return answer["SecretString"].encode()
    return bytes(answer.get("SecretBinary") or b"")


def _json_field(value: bytes, name: str, field: str, what: str) -> bytes:
    try:
        document = json.loads(value)
    except ValueError:
        raise SecretError(
            f"the {what} secret {name} is not JSON, but {name}#{field} names a field of it"
        ) from None
    if not isinstance(document, dict) or field not in document:
        raise SecretError(f"the {what} secret {name} has no field {field!r}")
    item = document[field]
    if not isinstance(item, str):
        raise SecretError(f"the {what} secret {name}: field {field!r} is not a string")
    return item.encode()


# --- the PII tokenization key -----------------------------------------------------------------


def hmac_key(settings: Settings) -> bytes:
    """The key that tokenizes PII (see the module's rules).

    Raises:
        SecretError: No key where one is required, an unreadable secret, or the development
            key outside ``local``.
    """
    secret_id = settings.secrets.hmac_key
    if secret_id:
        key = read_secret(settings, secret_id, "PII tokenization key")
    elif not is_local(settings):
        raise SecretError(
            f"no PII tokenization key for env {settings.env!r}: set secrets.hmac_key to its AWS "
            "Secrets Manager id (outside local no setting, variable or built-in key is accepted)"
        )
    else:
        key = _local_key(settings)
    if key == DEVELOPMENT_KEY and not is_local(settings):
        raise SecretError(
            f"secret {secret_id} holds the public development key: not allowed in env "
            f"{settings.env!r}"
        )
    return key


def _local_key(settings: Settings) -> bytes:
    privacy = settings.privacy
    key = privacy.hmac_key or os.environ.get(privacy.hmac_key_env)
    if key:
        return key.encode()
    if privacy.require_key:
        raise SecretError(
            f"no PII tokenization key: set the {privacy.hmac_key_env} environment variable or "
            "secrets.hmac_key (privacy.require_key is on)"
        )
    log.warning(
        "\n%s\nUSING THE BUILT-IN DEVELOPMENT HMAC KEY: PII tokens are NOT protected.\n"
        "Set %s to a secret key before processing real data.\n%s",
        "!" * 78,
        privacy.hmac_key_env,
        "!" * 78,
    )
    return DEVELOPMENT_KEY


# --- the tracking database's password -----------------------------------------------------------


def tracking_db_password(settings: Settings) -> str | None:
    """The tracking database's password from Secrets Manager, or None when none is configured."""
    secret_id = settings.secrets.tracking_db_password
    if not secret_id:
        return None
    return read_secret(settings, secret_id, "tracking database password").decode()


def metastore_db_password(settings: Settings) -> str | None:
    """The catalog's metastore database password from Secrets Manager, or None when none is
    configured (``catalog.metastore_url`` then needs no password, e.g. trust on loopback)."""
    secret_id = settings.secrets.metastore_db_password
    if not secret_id:
        return None
    return read_secret(settings, secret_id, "metastore database password").decode()


def online_store_url(settings: Settings) -> str | None:
    """The shared online store's URL from Secrets Manager (its host and password), or None
    when none is configured (``serve.online_store.url`` then says where it is, if anywhere)."""
    secret_id = settings.secrets.online_store_url
    if not secret_id:
        return None
    return read_secret(settings, secret_id, "online store URL").decode().strip()


def with_password(uri: str, password: str | None) -> str:
    """``uri`` with ``password`` for its user; a URI that is not a database URI, or that has
    no user, is returned unchanged."""
    if not password:
        return uri
    parts = urlsplit(uri)
    if not parts.scheme.startswith(("postgresql", "mysql", "mssql")) or not parts.username:
        return uri
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{quote(unquote(parts.username), safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***``, for messages and logs."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit((parts.scheme, f"{user}:***@{netloc[1]}", parts.path, parts.query, ""))


# --- before a command touches data ----------------------------------------------------------------


def check(settings: Settings, *, pii: bool = True, serving: bool = False) -> None:
    """Read every secret the command needs, or stop it with ``SecretError``.

    Args:
        settings: The command's configuration.
        pii: Whether the command handles the lake's data and so needs the PII key; the
            prediction service and the registry listing do not.
        serving: Whether the command is the prediction service, the online store's only user.
    """
    if pii:
        hmac_key(settings)
    tracking_db_password(settings)
    if settings.catalog.enabled and settings.catalog.metastore_url:
        metastore_db_password(settings)
    if serving:
        online_store_url(settings)
