"""Where the command line and the service send their logs: stderr, as text or JSON lines,
PII and secrets scrubbed. Imports neither click nor Spark, so the service can use it."""

from __future__ import annotations

import logging
import os
import sys

from lakehouse.config import ConfigError
from lakehouse.log_scrub import install as install_scrubber
from lakehouse.secrets import keep_secrets_out_of_logs

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL_VAR = "LAKEHOUSE_LOG_LEVEL"


class _StderrHandler(logging.StreamHandler):
    """A stream handler on whatever ``sys.stderr`` is when a record is emitted (a test runner
    or an embedding program may swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(verbose: bool, log_format: str = "text", level: str | None = None) -> None:
    """Logs on stderr: text lines, or JSON lines for log collectors (one object per line with
    ``time``, ``level``, ``logger``, ``message`` and the record's extra fields). Replaces the
    handler an earlier command of this process installed; leaves other handlers alone.

    The level is DEBUG with ``verbose``, else ``level`` or ``LAKEHOUSE_LOG_LEVEL`` (INFO)."""
    name = "DEBUG" if verbose else (level or os.environ.get(LOG_LEVEL_VAR) or "INFO").upper()
    if name not in LOG_LEVELS:
        raise ConfigError(f"{LOG_LEVEL_VAR}={name}: expected one of {', '.join(LOG_LEVELS)}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    install_scrubber()  # PII out of every line, whoever logs it
    root.addHandler(handler)
    root.setLevel(name)
    # py4j logs every JVM call at INFO
    logging.getLogger("py4j").setLevel(logging.WARNING)
    keep_secrets_out_of_logs()
