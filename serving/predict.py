"""Prediction services: request records -> online features -> model -> answer.

One class per task, used by its router through a dependency. A request picks its model once
(the champion, or the challenger for its canary share), computes every record's features
with the online twin of Gold, and awaits the micro-batcher. Invalid records are all reported
in one 422 before anything is scored (and, for fraud, before the velocity state changes).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from lakehouse.config import Settings
from lakehouse.features import FeatureError
from lakehouse.features.delivery_online import checkout_features
from lakehouse.features.fraud_online import feature_rows, parse_transactions
from lakehouse.ml.registry import CHALLENGER, CHAMPION
from serving.batcher import MicroBatcher
from serving.errors import (
    NotReadyError,
    StoreUnavailableError,
    TooManyRecordsError,
    invalid_records,
)
from serving.holder import LoadedModel, ModelHolder, ModelSlot
from serving.inference_log import Entry, InferenceLog
from serving.metrics import Metrics, observe_many
from serving.request_log import request_id_var
from serving.state import OnlineFeatures

log = logging.getLogger(__name__)


def model_ref(model: LoadedModel, alias: str) -> dict[str, Any]:
    """The ``model`` part of an answer (``ModelRef``'s fields)."""
    return {
        "name": model.name,
        "version": model.version,
        "alias": alias,
        "trained_on": {"table": model.lineage_table, "version": model.lineage_table_version},
    }


def round_half_up_days(days: float) -> int:
    """Whole days of a predicted duration: half up, never negative."""
    return math.floor(max(days, 0.0) + 0.5)


class _Service:
    """What both tasks share: records in, model choice, shadow scoring."""

    task = ""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        features: OnlineFeatures,
        batcher: MicroBatcher,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.holder = holder
        self.features = features
        self.batcher = batcher
        self.metrics = metrics
        self.inference_log: InferenceLog | None = None
        self._background: set[asyncio.Task] = set()

    @property
    def slot(self) -> ModelSlot:
        slot = self.holder.slots.get(self.task)
        if slot is None:
            raise NotReadyError(f"this service does not serve {self.task} (serve.tasks)")
        return slot

    def records(self, body: Any) -> tuple[list[Any], bool]:
        """The records of a body (one object or a list) and whether it was a list."""
        many = isinstance(body, list)
        records = body if many else [body]
        limit = self.settings.serve.max_records
        if len(records) > limit:
            raise TooManyRecordsError(f"{len(records)} records; at most {limit} per request")
        return records, many

    def require_model(self) -> None:
        """503 with what to do, before any work, when this task has no model to answer with."""
        if self.slot.champion is None:
            raise self.not_ready()

    def not_ready(self) -> NotReadyError:
        return NotReadyError(self.slot.status()["message"] or f"no {self.task} model loaded")

    def choose(self) -> tuple[LoadedModel, str]:
        """The champion, or the challenger for the configured canary share of requests."""
        slot = self.slot
        champion, challenger = slot.champion, slot.challenger
        share = self.settings.serve.canary_share
        if challenger is not None and share > 0 and random.random() < share:
            return challenger, CHALLENGER
        if champion is None:
            raise self.not_ready()
        return champion, CHAMPION

    def reject(self, errors: list[tuple[int | None, FeatureError]], many: bool) -> None:
        for _, error in errors:
            self.metrics.invalid_records.labels(self.task, error.reason).inc()
        log.info(
            "%s: %d invalid record(s): %s",
            self.task,
            len(errors),
            sorted({e.reason for _, e in errors}),
        )
        raise invalid_records([(p if many else None, e) for p, e in errors])

    async def score(
        self, rows: Sequence[dict[str, Any]], chosen: tuple[LoadedModel, str] | None = None
    ) -> tuple[LoadedModel, str, np.ndarray]:
        """Score feature rows with the chosen model (chosen now when not given); shadow-score
        them on the side."""
        model, alias = chosen or self.choose()
        values = await self.batcher.predict(model, rows) if rows else np.empty(0)
        self.metrics.observe_predictions(model, alias, values)
        challenger = self.slot.challenger
        if self.settings.serve.shadow and alias == CHAMPION and challenger and rows:
            task = asyncio.create_task(self._shadow(challenger, rows, model, values))
            self._background.add(task)  # keep a reference until it is done
            task.add_done_callback(self._background.discard)
        return model, alias, values

    async def _shadow(
        self,
        challenger: LoadedModel,
        rows: Sequence[dict],
        champion: LoadedModel,
        served: np.ndarray,
    ) -> None:
        try:
            shadow = await self.batcher.predict(challenger, rows)
        except Exception:
            log.exception("%s: shadow scoring with v%s failed", self.task, challenger.version)
            return
        self.metrics.observe_predictions(challenger, "shadow", shadow)
        difference = np.abs(shadow - served)
        observe_many(self.metrics.shadow_difference.labels(challenger.name), difference)
        disagreements = self.disagreements(champion, challenger, served, shadow)
        if disagreements:
            self.metrics.shadow_disagreements.labels(challenger.name).inc(disagreements)
        # aggregates only: no record's values in the logs
        log.info(
            "shadow %s: champion v%s vs challenger v%s on %d rows: mean |diff| %.4f, "
            "max %.4f, %d decision(s) differ",
            challenger.name,
            champion.version,
            challenger.version,
            len(rows),
            float(difference.mean()),
            float(difference.max()),
            disagreements,
        )

    def disagreements(self, champion, challenger, served, shadow) -> int:
        return 0

    def log_answers(
        self,
        model: LoadedModel,
        alias: str,
        record_ids: list[str],
        event_times: list,
        rows: Sequence[dict[str, Any]],
        values: np.ndarray,
        threshold: float | None = None,
    ) -> None:
        """Hand the answers to the inference log (references only: the work is its thread's)."""
        if self.inference_log is None:
            return
        self.inference_log.add(
            Entry(
                request_id=request_id_var.get(),
                logged_at=datetime.now(UTC),
                task=self.task,
                model_name=model.name,
                model_version=int(model.version),
                model_alias=alias,
                record_ids=record_ids,
                event_times=event_times,
                features=rows,
                values=values,
                threshold=threshold,
            )
        )


class DeliveryService(_Service):
    """``POST /v1/delivery/predict``."""

    task = "delivery"

    async def predict(self, body: Any) -> dict[str, Any]:
        """Predict delivery days and date for one checkout document or a list of them.

        Returns:
            A ``DeliveryResponse`` or ``DeliveryBatchResponse`` as a dict.
        """
        documents, many = self.records(body)
        self.require_model()
        reference = self.features.reference
        if reference is None:
            raise NotReadyError("reference data not loaded yet: see /ready")
        rules = self.features.rules
        rows, errors = [], []
        for position, document in enumerate(documents):
            try:
                rows.append(checkout_features(document, reference, rules))
            except FeatureError as error:
                errors.append((position, error))
        if errors:
            self.reject(errors, many)
        model, alias, values = await self.score(rows)
        # plain dicts in the response models' field order: a list of 1,000 answers costs a
        # few milliseconds less than as pydantic objects (the routes declare the models)
        predictions = [
            {
                "record_id": row["record_id"],
                "order_date": row["order_date"],
                "predicted_delivery_days": days,
                "predicted_delivery_date": row["order_date"]
                + timedelta(days=round_half_up_days(days)),
            }
            for row, days in zip(rows, values.tolist(), strict=True)
        ]
        self.log_answers(
            model,
            alias,
            [row["record_id"] for row in rows],
            [row["event_ts"] for row in rows],
            rows,
            values,
        )
        ref = model_ref(model, alias)
        if many:
            return {"model": ref, "predictions": predictions}
        return {**predictions[0], "model": ref}


class FraudService(_Service):
    """``POST /v1/fraud/score``."""

    task = "fraud"

    async def score_transactions(self, body: Any) -> dict[str, Any]:
        """Score one transaction or a list; each is then added to the velocity state.

        Returns:
            A ``FraudResponse`` or ``FraudBatchResponse`` as a dict.
        """
        transactions, many = self.records(body)
        self.require_model()
        accounts, velocity = self.features.accounts, self.features.velocity
        if accounts is None or velocity is None:
            raise NotReadyError("account history or velocity state not loaded yet: see /ready")
        records, errors = parse_transactions(transactions)
        if errors:
            self.reject(errors, many)  # before any state changes
        # a model must be there before the state changes: a 503 leaves no trace
        chosen = self.choose()
        windows = self.settings.payments.velocity_windows_s

        # one state per request: a shared store's is read, and the records observed there, in
        # one round trip that other requests go on during
        try:
            async with velocity.abatch(records) as state:
                # each record's features, then it is observed: a transaction never counts in
                # its own velocity, and later records of the request see the earlier ones (as
                # in Gold)
                rows = feature_rows(records, accounts, state, windows, observe=True)
        except velocity.unavailable as exc:
            log.error("fraud: the shared velocity state did not answer (%s)", type(exc).__name__)
            raise StoreUnavailableError(
                "the shared velocity state (serve.online_store) did not answer: nothing was "
                "scored; retry (a transaction id is counted once)"
            ) from exc
        self.metrics.velocity_held.set(velocity.held_transactions)
        model, alias, values = await self.score(rows, chosen)
        threshold = float(model.threshold)
        decisions = values >= threshold
        self.metrics.fraud_decisions.labels(model.version, "fraud").inc(int(decisions.sum()))
        self.metrics.fraud_decisions.labels(model.version, "legit").inc(
            int(len(decisions) - decisions.sum())
        )
        scores = [
            {
                "transaction_id": record.transaction_id,
                "fraud_probability": p,
                "is_fraud": d,
                "threshold": threshold,
            }
            for record, p, d in zip(records, values.tolist(), decisions.tolist(), strict=True)
        ]
        self.log_answers(
            model,
            alias,
            rows.columns["transaction_id"],
            rows.columns["transaction_ts"],
            rows,
            values,
            threshold,
        )
        ref = model_ref(model, alias)
        if many:
            return {"model": ref, "scores": scores}
        return {**scores[0], "model": ref}

    def disagreements(self, champion, challenger, served, shadow) -> int:
        return int(np.sum((served >= champion.threshold) != (shadow >= challenger.threshold)))
