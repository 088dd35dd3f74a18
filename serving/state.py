"""The online feature state: reference data, account history and the velocity state.

Read from the lake with the JVM-free ``deltalake`` reader (no Spark in the service). The
reference data and the account history are re-read, and swapped in whole, when their tables
move; the velocity state is the service's own: warm-started from ``silver/payment_transactions``
once, then fed by every transaction the service scores (a restart warm-starts again, so
transactions scored but not yet in Silver are forgotten by a restart).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from lakehouse.config import Settings
from lakehouse.features.delivery_online import load_delivery_reference
from lakehouse.features.fraud_online import load_account_history, load_velocity_state
from lakehouse.gold.delivery_online import DeliveryReference, DeliveryRules
from lakehouse.gold.payments_online import AccountHistory, VelocityState
from lakehouse.io.delta_reader import delta_version
from lakehouse.tables import (
    SILVER_ACCOUNTS,
    SILVER_HOLIDAYS,
    SILVER_RISK_INTERVALS,
    SILVER_WAREHOUSES,
    SILVER_ZIP_CODES,
)

log = logging.getLogger(__name__)

REFERENCE_TABLES = (SILVER_ZIP_CODES, SILVER_WAREHOUSES, SILVER_HOLIDAYS)
ACCOUNT_TABLES = (SILVER_ACCOUNTS, SILVER_RISK_INTERVALS)
# what each task's features need
PARTS = {"delivery": ("reference",), "fraud": ("accounts", "velocity")}


def table_version(settings: Settings, table: Any) -> int | None:
    """The latest version of a lake table, None when it does not exist (no data is read)."""
    return delta_version(settings.table_path(*table), settings.storage)


class OnlineFeatures:
    """What the online feature twins read, loaded for the tasks the service answers.

    Attributes:
        rules: The ``sessions`` rules of the pipeline (delivery features).
        reference: Silver reference data (delivery), None until loaded.
        accounts: Account versions and risk intervals (fraud), None until loaded.
        velocity: Recent transactions per source account (fraud), None until loaded.
        errors: Part -> why it could not be loaded.
    """

    def __init__(self, settings: Settings, tasks: list[str]) -> None:
        self.settings = settings
        self.parts = sorted({part for task in tasks for part in PARTS.get(task, ())})
        self.rules = DeliveryRules.from_settings(settings)
        self.reference: DeliveryReference | None = None
        self.accounts: AccountHistory | None = None
        self.velocity: VelocityState | None = None
        self.errors: dict[str, str] = {}
        self.loaded_at: dict[str, datetime] = {}
        self.load_seconds: dict[str, float] = {}

    def is_ready(self, task: str) -> bool:
        """Whether every part ``task``'s features read is loaded."""
        return all(getattr(self, part) is not None for part in PARTS.get(task, ()))

    def load(self) -> int:
        """Load every part not loaded yet (blocking: run it off the event loop).

        Returns:
            How many parts were loaded.
        """
        return sum(self._load(part) for part in self.parts if getattr(self, part) is None)

    def refresh(self) -> int:
        """Re-read the reference data and account history if their tables moved.

        The velocity state is never re-read: it holds what the service saw since its start.

        Returns:
            How many parts were (re)loaded.
        """
        loaded = 0
        if self.reference is not None:
            held = dict(self.reference.table_versions)
            now = {t.key: table_version(self.settings, t) for t in REFERENCE_TABLES}
            if any(now[k] != held.get(k) for k in now):
                loaded += self._load("reference")
        if self.accounts is not None:
            held = dict(self.accounts.table_versions)
            now = {t.key: table_version(self.settings, t) for t in ACCOUNT_TABLES}
            if any(now[k] != held.get(k) for k in now):
                loaded += self._load("accounts")
        return loaded + self.load()

    def _load(self, part: str) -> int:
        started = time.perf_counter()
        try:
            if part == "reference":
                value: Any = load_delivery_reference(self.settings)
            elif part == "accounts":
                value = load_account_history(self.settings)
            else:
                value = load_velocity_state(
                    self.settings, max_lateness_s=self.settings.serve.velocity_max_lateness_s
                )
        except Exception as exc:  # keep what is held (if anything) and say why on /ready
            self.errors[part] = f"{type(exc).__name__}: {exc}"
            log.error("online features: %s could not be loaded: %s", part, self.errors[part])
            return 0
        # the swap: requests read the attribute once, so they see the old or the new whole
        setattr(self, part, value)
        self.errors.pop(part, None)
        self.loaded_at[part] = datetime.now(UTC)
        self.load_seconds[part] = time.perf_counter() - started
        log.info(
            "online features: %s loaded in %.1fs (%s)",
            part,
            self.load_seconds[part],
            self._versions(part),
        )
        return 1

    def _versions(self, part: str) -> dict[str, int | None]:
        if part == "reference" and self.reference is not None:
            return dict(self.reference.table_versions)
        if part == "accounts" and self.accounts is not None:
            return dict(self.accounts.table_versions)
        if part == "velocity" and self.velocity is not None:
            return {"silver/payment_transactions": self.velocity.source_version}
        return {}

    def status(self) -> dict[str, Any]:
        """Per part: loaded or not, the table versions read, when, and any error."""
        out = {}
        for part in self.parts:
            entry: dict[str, Any] = {
                "loaded": getattr(self, part) is not None,
                "tables": self._versions(part),
                "loaded_at": self.loaded_at.get(part),
                "error": self.errors.get(part),
            }
            if part == "velocity" and self.velocity is not None:
                entry["held_transactions"] = self.velocity.held_transactions
            out[part] = entry
        return out
