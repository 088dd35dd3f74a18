"""Errors the service answers with, and the handlers that shape every error answer.

Clients get a JSON body with the request id and, for invalid input, field-level items;
never a stack trace, never the values they sent (they may hold PII).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from lakehouse.features import FeatureError
from serving.request_log import request_id_var

log = logging.getLogger(__name__)

# errors listed per request at most (a 10,000-record body could hold 10,000)
MAX_ERROR_ITEMS = 100
_INDEX = re.compile(r"^(.*?)\[(\d+)\]$")


class ServiceError(Exception):
    """An error with a status code and a client-safe detail."""

    status_code = 500

    def __init__(self, detail: Any) -> None:
        super().__init__(detail if isinstance(detail, str) else "service error")
        self.detail = detail


class NotReadyError(ServiceError):
    """The model or the features a request needs are not loaded (yet)."""

    status_code = 503


class StoreUnavailableError(ServiceError):
    """The shared online store did not answer: nothing was scored."""

    status_code = 503


class TooManyRecordsError(ServiceError):
    """More records in one request than ``serve.max_records``."""

    status_code = 413


class InvalidRecordsError(ServiceError):
    """Records the lake would quarantine: 422 with one item per problem."""

    status_code = 422


def field_loc(field: str, position: int | None) -> list[str | int]:
    """A feature twin's field path (``cart.items[0].weightKg``) as a pydantic-style ``loc``."""
    loc: list[str | int] = ["body"]
    if position is not None:
        loc.append(position)
    for part in field.split("."):
        match = _INDEX.match(part)
        if match:
            if match.group(1):
                loc.append(match.group(1))
            loc.append(int(match.group(2)))
        elif part:
            loc.append(part)
    return loc


def invalid_records(errors: list[tuple[int | None, FeatureError]]) -> InvalidRecordsError:
    """One 422 for every invalid record of a request (each named by its position)."""
    items = [
        {"loc": field_loc(error.field, position), "msg": str(error), "type": error.reason}
        for position, error in errors[:MAX_ERROR_ITEMS]
    ]
    return InvalidRecordsError(items)


def _body(detail: Any) -> dict[str, Any]:
    return {"detail": detail, "request_id": request_id_var.get()}


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    if exc.status_code >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc.status_code)
    return JSONResponse(_body(exc.detail), status_code=exc.status_code)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # pydantic's items carry the offending input and context: keep only where and what
    items = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()[:MAX_ERROR_ITEMS]
    ]
    return JSONResponse(_body(items), status_code=422)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse(
        _body(exc.detail), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"detail": ..., "request_id": ...}``; 500s are shaped by the
    request middleware, which also logs them (``serving.middleware``)."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
