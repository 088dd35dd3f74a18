"""The request middleware: request id, access metrics, and the last line of error handling.

Plain ASGI rather than ``BaseHTTPMiddleware``: it runs on every request, and the plain form
costs a few microseconds instead of a task and a stream per request.
"""

from __future__ import annotations

import logging
import time

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.auth import KEY_ID_STATE
from serving.metrics import Metrics
from serving.request_log import REQUEST_ID_HEADER, new_request_id, request_id_var

log = logging.getLogger("serving.access")

_HEADER = REQUEST_ID_HEADER.encode()
_CONTENT_LENGTH = b"content-length"
_UNMATCHED = "unmatched"


class BodyTooLargeError(HTTPException):
    """The body grew past the limit while it was read (a chunked upload without a length).

    An ``HTTPException``, so that FastAPI passes it on (any other exception while reading a
    body becomes a 400) and the error handlers answer it like every other error.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID`` in, or a new one; echoed in the response
    and stamped on every log line), refuses bodies over ``max_body_bytes`` with 413 (before
    reading them when ``Content-Length`` says so), counts requests by route and status, times
    them, and turns an unhandled exception into a 500 without a stack trace (logged here,
    once, with the id)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        offered = None
        declared = 0
        for name, value in scope["headers"]:
            if name == _HEADER:
                offered = value.decode("latin-1")
            elif name == _CONTENT_LENGTH and value.isdigit():
                declared = int(value)
        # the request state, where authentication names the caller's key
        state = scope.setdefault("state", {})
        request_id = new_request_id(offered)
        token = request_id_var.set(request_id)
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (_HEADER, request_id.encode())]
            await send(message)

        limit = self.max_body_bytes
        received = 0

        async def receive_with_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        try:
            if declared > limit:
                detail = f"request body of {declared} bytes; at most {limit}"
                await self._answer(send_with_id, 413, detail, request_id)
            else:
                await self.app(scope, receive_with_limit, send_with_id)
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            if not response_started:
                await self._answer(send_with_id, 500, "internal error", request_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", _UNMATCHED)
            self.metrics.observe_request(scope["method"], path, status, seconds)
            key_id = state.get(KEY_ID_STATE)
            if key_id is not None:
                self.metrics.observe_key(key_id, path, status)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s %d %.2fms", scope["method"], path, status, seconds * 1e3)
            request_id_var.reset(token)

    @staticmethod
    async def _answer(send: Send, status: int, detail: str, request_id: str) -> None:
        body = orjson.dumps({"detail": detail, "request_id": request_id})
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
