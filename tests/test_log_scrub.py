"""PII masked in every log line: the patterns, every Python logger (third-party handlers,
tracebacks, extra fields, JSON lines), the CLI's crash and error lines, and Spark's JVM log
layout. The end-to-end runs: ``tests/test_cli.py::test_jobs_run_under_spark_submit`` (a whole
run's output, the landing zone's PII as canaries) and ``tests/serving/test_app.py``."""

from __future__ import annotations

import io
import json
import logging

import pytest
from pythonjsonlogger.json import JsonFormatter

from lakehouse.config import PROJECT_ROOT
from lakehouse.log_scrub import install, log4j2_layout, scrub

CANARIES = {
    "email": ["Jane.Doe+news@Example.co.uk", "x_y@mail-host.org"],
    "card": ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"],
    "ip": ["203.0.113.7", "198.51.100.23", "2001:db8::7", "fe80:0:0:0:202:b3ff:fe1e:8329"],
    "phone": ["+1-555-0100", "+15550100", "(503) 555-0100", "555-0100", "+44 20 7946 0958"],
}
KEPT = [
    "2024-11-21",
    "2024-11-21T10:00:00Z",
    "12:00:00",
    "1731880381293",  # epoch milliseconds
    "local-1796383799728",
    "v1.2.3",
    "records_read=1500",
    "127.0.0.1:8000",
    "0.0.0.0",
    "0b541211-6f65-4b6e-bb0c-ded5ad3e78c7",
    "tx9e23db774c98",
    "AC02390386",
    "{'pr_auc': 0.5727123456789012}",  # a metric's decimals, as training logs them
    "-0.4504132231404959",
    "3000000000 bytes",
]


@pytest.mark.parametrize(("kind", "value"), [(k, v) for k, vs in CANARIES.items() for v in vs])
def test_each_kind_is_masked_in_context(kind, value):
    assert scrub(f"row ({value}), next") == f"row (<{kind}>), next"


def test_dates_times_ids_and_counts_are_kept():
    line = " ".join(KEPT)
    assert scrub(line) == line


@pytest.fixture
def scrubbed_logging():
    """Scrubbing on for this test only (the suite's process keeps the factory it had)."""
    before = logging.getLogRecordFactory()
    install()
    yield
    logging.setLogRecordFactory(before)


def test_every_logger_handler_traceback_and_extra_is_masked(scrubbed_logging):
    # a library's own logger with its own handler, made after scrubbing was installed
    stream, json_stream = io.StringIO(), io.StringIO()
    logger = logging.getLogger("some.library")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handlers = [logging.StreamHandler(stream), logging.StreamHandler(json_stream)]
    handlers[1].setFormatter(JsonFormatter("%(levelname)s %(message)s"))
    for handler in handlers:
        logger.addHandler(handler)
    install()  # as the service does after uvicorn made its handlers: extra fields too
    try:
        logger.debug("user %s from %s", "x_y@mail-host.org", "203.0.113.7")
        try:
            raise ValueError("cannot parse card 4111 1111 1111 1111 of +1-555-0100")
        except ValueError:
            logger.exception("parse failed", extra={"record": "jane@x.com"})
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
    text, lines = stream.getvalue(), json_stream.getvalue()
    assert "user <email> from <ip>" in text
    assert "ValueError: cannot parse card <card> of <phone>" in text  # the traceback
    for value in ("x_y@mail-host.org", "203.0.113.7", "4111 1111", "555-0100", "jane@x.com"):
        assert value not in text and value not in lines
    records = [json.loads(line) for line in lines.splitlines()]
    assert records[1]["record"] == "<email>" and "<card>" in records[1]["exc_info"]


def test_the_cli_masks_its_crash_and_error_lines(spark, scrubbed_logging, monkeypatch, capsys):
    from lakehouse.cli import main
    from lakehouse.errors import EXIT_CRASH
    from lakehouse.ml import report

    def broken(settings):
        raise RuntimeError("row jane.doe@example.com paid with 4111111111111111")

    monkeypatch.setattr(report, "render_models", broken)
    with pytest.raises(SystemExit) as exited:
        main(["models"])
    assert exited.value.code == EXIT_CRASH
    err = capsys.readouterr().err
    assert "RuntimeError: row <email> paid with <card>" in err
    assert "jane.doe@example.com" not in err and "4111111111111111" not in err

    # an error a user acts on is one line, masked too (a path can hold an address)
    with pytest.raises(SystemExit):
        main(["history", "no/such_table", "--lake", "/tmp/jane.doe@example.com/lake"])
    err = capsys.readouterr().err
    assert (
        err.splitlines()[-1]
        == "Error: no/such_table: no Delta table at /tmp/<email>/lake/no/such_table"
    )
    assert "jane.doe@example.com" not in err


def _properties_value(name: str) -> str:
    text = (PROJECT_ROOT / "conf" / "log4j2.properties").read_text()
    (line,) = [x for x in text.splitlines() if x.startswith(f"{name} = ")]
    # a .properties value: a doubled backslash is one
    return line.split(" = ", 1)[1].replace("\\\\", "\\")


def test_spark_jvm_logs_use_the_same_masks(spark):
    pattern = _properties_value("appender.console.layout.pattern")
    assert pattern.endswith(log4j2_layout()), "conf/log4j2.properties: render log4j2_layout()"
    assert _properties_value("appender.console.layout.alwaysWriteExceptions") == "false"

    jvm = spark._jvm
    log4j = jvm.org.apache.logging.log4j
    layout = (
        log4j.core.layout.PatternLayout.newBuilder()
        .withPattern(pattern)
        .withAlwaysWriteExceptions(False)
        .build()
    )
    values = [v for vs in CANARIES.values() for v in vs]
    event = (
        log4j.core.impl.Log4jLogEvent.newBuilder()
        .setLoggerName("org.example.Parser")
        .setLevel(log4j.Level.WARN)
        .setMessage(log4j.message.SimpleMessage("bad row: " + " | ".join(values + KEPT)))
        .setThrown(jvm.java.lang.IllegalStateException("at jane.doe@example.com"))
        .build()
    )
    line = layout.toSerializable(event)
    for value in [*values, "jane.doe@example.com"]:
        assert value not in line, value
    for value in KEPT:
        assert value in line, value
    assert "IllegalStateException: at <email>" in line  # the exception, masked
    assert line.count("<card>") == len(CANARIES["card"])
