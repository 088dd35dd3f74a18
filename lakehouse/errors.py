"""The errors a user can act on, and the exit codes the command line gives them.

Every error that says what is wrong and what to do about it derives from ``LakehouseError``.
``lakehouse`` prints such an error as one line on stderr and exits with its ``exit_code``,
without a traceback (``--verbose`` logs the traceback too). Anything else is a crash and keeps
its traceback.

This module imports nothing, so that every layer, the service and the CLI can use it.
"""

from __future__ import annotations

# Exit codes of the `lakehouse` command (README, "Exit codes"): 0 is success.
EXIT_FAILED = 1  # a step or command failed for a reason it names
EXIT_USAGE = 2  # bad command line or configuration (click uses 2 for usage errors too)
# `lakehouse promote`: the gate refused the challenger and the champion stays; an outcome, not a
# failure (a scheduler skips what follows a promotion instead of retrying or paging)
EXIT_PROMOTION_REFUSED = 3
# the run finished, but its data failed a quality gate (quality.fail_on_error): e.g. a Silver
# step quarantined more than quality.max_quarantine_share of its rows (sysexits' EX_DATAERR)
EXIT_DATA_QUALITY = 65
# a crash: an error the code does not expect, with its traceback (sysexits' EX_SOFTWARE)
EXIT_CRASH = 70
# another command holds the lake's writer lock: try again later (sysexits' EX_TEMPFAIL)
EXIT_LAKE_LOCKED = 75
# a secret is missing, unreadable or not allowed in this environment (sysexits' EX_CONFIG)
EXIT_SECRET = 78


class LakehouseError(Exception):
    """An error with a message a user can act on.

    Attributes:
        exit_code: What ``lakehouse`` exits with when this error ends a command.
    """

    exit_code = EXIT_FAILED

    def one_line(self) -> str:
        """The message's first non-empty line (a JVM error can carry a whole stack trace)."""
        return first_line(self)


def first_line(exc: BaseException) -> str:
    """An error's first non-empty line, or its type's name."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class DataQualityError(LakehouseError):
    """The data a run read failed a quality gate; what was written stays written."""

    exit_code = EXIT_DATA_QUALITY
