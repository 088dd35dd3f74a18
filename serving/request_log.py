"""Request ids and the service's log setup.

No request body, feature value or prediction of an identifiable record is ever logged: log
lines carry the request id, the route, the status, timings, model versions and reason codes.
(Not named ``logging``: that would shadow the standard library's module.)
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from pythonjsonlogger.core import BaseJsonFormatter

from lakehouse.log_scrub import install as install_scrubber
from lakehouse.secrets import keep_secrets_out_of_logs

REQUEST_ID_HEADER = "x-request-id"
# a caller's id is kept when it is short and plain (it ends up in logs and headers)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def new_request_id(offered: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is plain enough to log, else a fresh one."""
    if offered and _REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamps every log record with the request id of the request being served (or ``-``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    """Log lines with the request id; uvicorn's access log stays off (the middleware logs)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level)
    root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        # JSON lines (`--log-format json`) stay JSON, and carry request_id as a field
        if not isinstance(handler.formatter, BaseJsonFormatter):
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger("py4j").setLevel(logging.WARNING)
    keep_secrets_out_of_logs()
    install_scrubber()  # every handler: PII masked in every line
