"""PII out of every log line: e-mails, card numbers, phone numbers and IP addresses are masked.

The project's own code logs no record values, but a library can: a parser's error quoting its
input, a driver's debug line, a traceback through a frame that held a record. So every log line
passes one filter on its way out, whoever wrote it:

- **Python**: ``install`` makes every log record of the process go through ``scrub_record``
  as it is made (the record factory), so third-party loggers and handlers are covered; it
  masks the message, the formatted traceback, the stack and string extra fields. Every command
  (``lakehouse.cli``) and the service (``serving.main``) install it first.
- **Spark's JVM**: the same patterns in ``conf/log4j2.properties`` (``%replace`` around the
  message and the exception; ``log4j2_layout`` renders them, a test checks the file).

What is masked (replaced by ``<email>``, ``<card>``, ``<ip>``, ``<phone>``): e-mail addresses;
13-19 digits that start with 2-6 (card schemes' first digits; epoch milliseconds start with 1),
whole or in groups split by single spaces or dashes, and not the decimals of a number
(``0.5727123456789012``); IPv4 addresses other than loopback and
0.0.0.0 (a server's own bind address is no one's PII), and IPv6 addresses; phone numbers in
international (``+1 555 0100``, ``+15550100``) and grouped (``(503) 555-0100``, ``555-0100``)
form. Dates, times, versions, ids and counts are left alone. Masking is deliberately eager: a
number that looks like a card is masked even if it is not one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

# (kind, Python pattern); Java's regex syntax is the same for these (see log4j2_layout)
PATTERNS: tuple[tuple[str, str], ...] = (
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    ("card", r"(?<![\w.-])[2-6](?:[ -]?[0-9]){12,18}(?![\w-])"),
    (
        "ip",
        r"(?<![\w.:])(?!127\.|0\.0\.0\.0(?![\w.]))"
        r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
        r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?![\w.])"
        r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])"
        r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:?){1,6}(?![\w:])",
    ),
    (
        "phone",
        r"(?<![\w+])\+[0-9]{1,3}(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,4})){2,5}(?![\w-])"
        r"|(?<![\w+])(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{2,4}\)[ .-]?)?"
        r"[0-9]{3}[ .-][0-9]{3,4}(?:[ .-][0-9]{3,4})?(?![\w-])",
    ),
)
_COMBINED = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in PATTERNS))
_MASKS = {kind: f"<{kind}>" for kind, _ in PATTERNS}


def scrub(text: str) -> str:
    """``text`` with every e-mail, card number, IP address and phone number masked."""
    return _COMBINED.sub(lambda match: _MASKS[match.lastgroup or ""], text)


# attributes every LogRecord has; other attributes are a call's `extra` fields
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_FORMATTER = logging.Formatter()


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask PII in ``record`` in place: the message is rendered and scrubbed once, the traceback
    formatted and scrubbed into ``exc_text`` (``exc_info`` is dropped, so that no formatter
    renders the raw one again), the stack and any string extra fields are scrubbed too."""
    record.msg = scrub(record.getMessage())
    record.args = None
    if record.exc_info:
        record.exc_text = record.exc_text or _FORMATTER.formatException(record.exc_info)
        record.exc_info = None
    if record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    _scrub_extras(record)  # a record made from a dict (makeLogRecord) may carry some
    return record


def _scrub_extras(record: logging.LogRecord) -> None:
    for name, value in list(vars(record).items()):
        if name not in _STANDARD and isinstance(value, str):
            setattr(record, name, scrub(value))


class _ScrubbingFactory:
    """A log record factory that scrubs each record it makes (``logging.setLogRecordFactory``):
    every logger's records, whatever handlers a library adds later (MLflow adds its own), and
    only records that pass their logger's level, so filtered-out debug lines cost nothing."""

    def __init__(self, make: Callable[..., logging.LogRecord]) -> None:
        self.make = make

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub_record(self.make(*args, **kwargs))


class ExtraFieldsFilter(logging.Filter):
    """Scrubs a record's ``extra`` fields, which a logger sets after the factory made the record
    (JSON lines show them); on the handlers configured when ``install`` runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub_extras(record)
        return True


def install() -> None:
    """Scrub every log record this process makes from now on, and the extra fields of those
    that today's handlers (the root's, uvicorn's) emit. Idempotent."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _ScrubbingFactory):
        logging.setLogRecordFactory(_ScrubbingFactory(current))
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for handler in {handler for logger in loggers for handler in logger.handlers}:
        if not any(isinstance(f, ExtraFieldsFilter) for f in handler.filters):
            handler.addFilter(ExtraFieldsFilter())


def log4j2_layout(message: str = "%m", exception: str = "%ex") -> str:
    """The masking part of a log4j2 ``PatternLayout``: ``message`` and ``exception`` wrapped in
    one ``%replace`` per kind (as ``conf/log4j2.properties`` writes it, backslashes doubled)."""

    def wrapped(inner: str) -> str:
        for kind, pattern in PATTERNS:
            inner = f"%replace{{{inner}}}{{{pattern}}}{{{_MASKS[kind]}}}"
        return inner

    return f"{wrapped(message)}%n{wrapped(exception)}"
