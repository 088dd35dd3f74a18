"""API keys of the prediction service: made here, stored hashed, checked by ``serving.auth``.

A key is 32 random bytes in URL-safe base64 behind the prefix ``lh_`` (so scanners and people
can tell one when they see it). With that much entropy a plain SHA-256 is the right way to keep
it, as code hosts and payment APIs keep their tokens: a slow password hash would cost every
request milliseconds and protect nothing more, since nobody can guess 256 random bits.

The service reads one document of hashed keys, never the keys themselves::

    {"keys": [{"id": "checkout", "sha256": "<64 hex digits>", "roles": ["predict"]}]}

from a mounted file (``serve.auth.keys_file``, e.g. a Kubernetes Secret), from AWS Secrets
Manager (``secrets.api_keys``), or from both (the ids must differ). Roles: ``predict`` (the
prediction endpoints) and ``admin`` (everything: ``/v1/models``, ``/metrics``, and prediction).

Authentication may be switched off (``serve.auth.enabled: false``) in ``local`` only, and then
the service says so loudly at start. No pyspark import: the service uses this module.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lakehouse.config import Settings
from lakehouse.secrets import SecretError, is_local, read_secret

log = logging.getLogger(__name__)

PREDICT = "predict"
ADMIN = "admin"
ROLES = (PREDICT, ADMIN)
KEY_PREFIX = "lh_"
_KEY_BYTES = 32
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ApiKey:
    """Who a presented key is: its id (a metrics label, never secret) and its roles."""

    id: str
    roles: frozenset[str]

    def allows(self, role: str) -> bool:
        """Whether the key may act in ``role`` (``admin`` may do everything)."""
        return role in self.roles or ADMIN in self.roles


class KeyRing:
    """The keys the service accepts, by the SHA-256 of the key."""

    def __init__(self, keys: Mapping[str, ApiKey]) -> None:
        self._by_digest = dict(keys)

    @property
    def ids(self) -> list[str]:
        """The ids of the accepted keys."""
        return sorted(key.id for key in self._by_digest.values())

    def identify(self, presented: str) -> ApiKey | None:
        """The key ``presented`` is, or None. A lookup by digest: timing tells an attacker
        about digests of their own guesses only, which leads nowhere."""
        return self._by_digest.get(digest(presented))


def digest(key: str) -> str:
    """The stored form of a key: SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random key."""
    return KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def entry(key_id: str, key: str, roles: Iterable[str]) -> dict[str, Any]:
    """The document entry that accepts ``key`` as ``key_id`` in ``roles``."""
    item = {"id": key_id, "sha256": digest(key), "roles": sorted(set(roles))}
    _check_entry(item, 0, "the new key")
    return item


def _check_entry(item: Any, position: int, source: str) -> ApiKey:
    where = f"API keys in {source}: entry {position}"
    if not isinstance(item, dict):
        raise SecretError(f"{where} is not a mapping with id, sha256 and roles")
    unknown = set(item) - {"id", "sha256", "roles"}
    if unknown:
        raise SecretError(f"{where} has unknown fields {sorted(unknown)}")
    key_id, hashed, roles = item.get("id"), item.get("sha256"), item.get("roles")
    if not isinstance(key_id, str) or not _ID.match(key_id):
        raise SecretError(
            f"{where}: id must be 1-63 letters, digits, '.', '_' or '-' (it labels metrics)"
        )
    if not isinstance(hashed, str) or not _SHA256.match(hashed):
        raise SecretError(
            f"{where} ({key_id}): sha256 must be 64 lower-case hex digits, the key's hash "
            "(`lakehouse api-key create` makes both)"
        )
    if not isinstance(roles, list) or not roles or not set(roles) <= set(ROLES):
        raise SecretError(f"{where} ({key_id}): roles must be a non-empty list of {list(ROLES)}")
    return ApiKey(key_id, frozenset(roles))


def _entries(text: str | bytes, source: str) -> list[Any]:
    """The raw entries of one document, its shape checked."""
    try:
        document = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError:
        raise SecretError(f"API keys in {source}: not JSON or YAML") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise SecretError(f'API keys in {source}: expected {{"keys": [...]}}')
    return document["keys"]


def _keys_of(entries: list[Any], source: str) -> dict[str, ApiKey]:
    keys: dict[str, ApiKey] = {}
    for position, item in enumerate(entries):
        key = _check_entry(item, position, source)
        if item["sha256"] in keys:
            raise SecretError(f"API keys in {source}: entry {position} repeats a key")
        keys[item["sha256"]] = key
    return keys


def parse_document(text: str | bytes, source: str) -> dict[str, ApiKey]:
    """The keys of one document, by digest.

    Raises:
        SecretError: Naming ``source`` and the entry at fault; never a hash or a key.
    """
    return _keys_of(_entries(text, source), source)


def load_keys(settings: Settings) -> KeyRing | None:
    """The service's keys, or None when authentication is off (local only, said loudly).

    Raises:
        SecretError: Authentication off outside ``local``, on without keys, or a key source
            that cannot be read or is malformed.
    """
    auth = settings.serve.auth
    if not auth.enabled:
        if not is_local(settings):
            raise SecretError(
                f"serve.auth.enabled=false is allowed in env local only, not {settings.env!r}"
            )
        log.warning(
            "\n%s\nAPI AUTHENTICATION IS OFF: anyone who reaches this port can call every "
            "endpoint.\nFor local use only; set serve.auth.enabled=true and give keys.\n%s",
            "!" * 78,
            "!" * 78,
        )
        return None
    documents: list[tuple[str, bytes]] = []
    if auth.keys_file:
        path = Path(auth.keys_file)
        try:
            documents.append((str(path), path.read_bytes()))
        except OSError as exc:
            raise SecretError(
                f"cannot read the API keys file {path}: {exc.strerror or exc}"
            ) from None
    if settings.secrets.api_keys:
        value = read_secret(settings, settings.secrets.api_keys, "API keys")
        documents.append((f"AWS Secrets Manager ({settings.secrets.api_keys})", value))
    if not documents:
        raise SecretError(
            "API authentication is on but no keys are configured: set serve.auth.keys_file "
            "or secrets.api_keys (`lakehouse api-key create` makes a key), or, on a laptop, "
            "serve.auth.enabled=false"
        )
    keys: dict[str, ApiKey] = {}
    ids: set[str] = set()
    for source, text in documents:
        for hashed, key in parse_document(text, source).items():
            if key.id in ids or hashed in keys:
                raise SecretError(f"API keys: {key.id!r} in {source} is already given elsewhere")
            keys[hashed] = key
            ids.add(key.id)
    if not keys:
        raise SecretError("API authentication is on but the key documents hold no key")
    log.info(
        "API authentication on: %d keys (%s)",
        len(keys),
        ", ".join(sorted(k.id for k in keys.values())),
    )
    return KeyRing(keys)


# --- the keys file, for `lakehouse api-key` ------------------------------------------------------


def read_file(path: Path) -> list[dict[str, Any]]:
    """The entries of a keys file (none when it does not exist yet), checked."""
    if not path.exists():
        return []
    entries = _entries(path.read_bytes(), str(path))
    _keys_of(entries, str(path))  # checked as the service checks it
    return list(entries)


def write_file(path: Path, entries: list[dict[str, Any]]) -> None:
    """Replace the keys file at once (a reader sees the old or the new one), readable by its
    owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump({"keys": entries}, handle, indent=2)
            handle.write("\n")
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
