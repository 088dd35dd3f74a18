"""Who may call what: API keys (``lakehouse.api_keys``) checked per router.

A key comes as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (both are declared in
the OpenAPI document, so ``/docs`` can send one). No key, or one the service does not know, is
401 (with ``WWW-Authenticate``); a known key without the route's role is 403; both in the
error shape of every other answer. The key's id (never the key) is put on the request's state,
where the request middleware counts requests per key.

A changed keys file (a key added, rotated or revoked; a Kubernetes Secret updated in place) is
read again by the watcher thread within ``serve.registry_poll_s``, no restart needed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from lakehouse.api_keys import KeyRing, load_keys
from lakehouse.config import Settings
from lakehouse.secrets import SecretError
from serving.metrics import Metrics

log = logging.getLogger(__name__)

# the request state's field naming the caller's key id (read by serving.middleware)
KEY_ID_STATE = "api_key_id"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="lakehouse"'}
# auto_error off: a missing key is answered below, in the service's error shape
_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")

BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
ApiKeyDep = Annotated[str | None, Depends(_api_key)]


def require(role: str) -> Callable[..., Awaitable[None]]:
    """A router dependency: the request's key must have ``role`` (when authentication is on).

    ``async`` though it awaits nothing: FastAPI runs a plain ``def`` dependency on a thread.
    """

    async def check(request: Request, bearer: BearerDep, api_key: ApiKeyDep) -> None:
        state = request.app.state.service
        keys: KeyRing | None = state.keys
        if keys is None:  # off (local only)
            return
        metrics: Metrics = state.metrics
        presented = bearer.credentials if bearer is not None else api_key
        if not presented:
            metrics.auth_failures.labels("missing").inc()
            raise HTTPException(
                401,
                "an API key is required: send Authorization: Bearer <key> (or X-API-Key)",
                _CHALLENGE,
            )
        key = keys.identify(presented)
        if key is None:
            metrics.auth_failures.labels("invalid").inc()
            raise HTTPException(401, "invalid API key", _CHALLENGE)
        setattr(request.state, KEY_ID_STATE, key.id)
        if not key.allows(role):
            metrics.auth_failures.labels("forbidden").inc()
            raise HTTPException(403, f"API key {key.id!r} does not have the {role!r} role")

    return check


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)  # through symlinks: a Secret volume swaps a link
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


class KeysReloader:
    """Reads the keys again when ``serve.auth.keys_file`` changed, and swaps them in; a file
    that no longer reads or parses leaves the last good keys in place (logged as an error).

    Args:
        settings: The service's configuration.
        target: What holds the keys (``ServiceState``: its ``keys`` attribute).
    """

    def __init__(self, settings: Settings, target: Any) -> None:
        self.settings = settings
        self.target = target
        keys_file = settings.serve.auth.keys_file
        self.path = Path(keys_file) if keys_file and settings.serve.auth.enabled else None
        self._stamp = _stamp(self.path) if self.path else None

    def __call__(self) -> bool:
        """Check the file once; whether new keys were swapped in."""
        if self.path is None:
            return False
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            keys = load_keys(self.settings)
        except SecretError as exc:
            log.error("API keys not reloaded, the previous ones stay: %s", exc)
            return False
        self.target.keys = keys
        return True
