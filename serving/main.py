"""The prediction service: ``create_app(settings)`` and its lifespan.

Run it with ``lakehouse serve`` or ``uvicorn --factory serving.main:create_app`` (then the
configuration comes from ``LAKEHOUSE_*`` environment variables, ``serving.settings``).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from lakehouse.api_keys import KeyRing, load_keys
from lakehouse.config import Settings
from lakehouse.inference_log import incoming_folder
from lakehouse.log_scrub import install as install_scrubber
from lakehouse.secrets import check as check_secrets
from serving.auth import KeysReloader
from serving.batcher import MicroBatcher
from serving.deps import ServiceState
from serving.drift import DriftMonitor
from serving.errors import install_error_handlers
from serving.holder import LoadedModel, ModelHolder
from serving.inference_log import InferenceLog
from serving.metrics import Metrics
from serving.middleware import RequestContextMiddleware
from serving.predict import DeliveryService, FraudService
from serving.routes import ROUTERS
from serving.settings import ServiceSettings
from serving.state import OnlineFeatures
from serving.watcher import Watcher

log = logging.getLogger(__name__)


def build_state(settings: Settings, keys: KeyRing | None = None) -> ServiceState:
    """Everything the app holds, nothing loaded yet (the watcher loads in the background).

    Args:
        settings: The configuration.
        keys: The API keys accepted (``lakehouse.api_keys.load_keys``); None: auth is off.
    """
    from lakehouse.ml.tracking import client_for

    serve = settings.serve
    metrics = Metrics()
    holder = ModelHolder(settings, metrics, list(serve.tasks))
    drift = DriftMonitor(holder.held_models, serve.drift_refresh_s)
    metrics.attach(
        holder.held_models, drift.latest, lambda: [slot.name for slot in holder.slots.values()]
    )
    features = OnlineFeatures(settings, list(serve.tasks))

    def on_batch(model: LoadedModel, inputs: Any, outputs: np.ndarray, seconds: float) -> None:
        metrics.observe_batch(model, len(outputs), seconds)
        model.drift.add(inputs, outputs)

    batcher = MicroBatcher(serve.micro_batch_wait_ms / 1e3, serve.micro_batch_max_rows, on_batch)
    metrics.auth_enabled.set(keys is not None)
    services = (settings, holder, features, batcher, metrics)
    delivery, fraud = DeliveryService(*services), FraudService(*services)
    watcher = Watcher(
        holder,
        features,
        lambda: client_for(settings),
        poll_s=serve.registry_poll_s,
        data_refresh_s=serve.data_refresh_s,
    )
    logging_conf = serve.inference_log
    inference_log = (
        InferenceLog(
            incoming_folder(settings.lake_root, logging_conf.folder),
            settings.storage,
            flush_s=logging_conf.flush_s,
            max_rows=logging_conf.max_rows,
            max_buffered_rows=logging_conf.max_buffered_rows,
            metrics=metrics,
        )
        if logging_conf.enabled
        else None
    )
    for service in (delivery, fraud):
        service.inference_log = inference_log
    state = ServiceState(
        settings=settings,
        metrics=metrics,
        holder=holder,
        features=features,
        batcher=batcher,
        delivery=delivery,
        fraud=fraud,
        watcher=watcher,
        drift=drift,
        keys=keys,
        inference_log=inference_log,
    )
    watcher.steps = (KeysReloader(settings, state),)  # reads the keys file when it changes
    return state


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start following the registry and loading data, the drift monitor and the inference
    log's writer; stop them on shutdown (the inference log writes what it holds)."""
    state: ServiceState = app.state.service
    # the event loop is one thread: OpenMP or BLAS pools only add contention on a small box
    limiter = threadpool_limits(1)
    thresholds = gc.get_threshold()
    gc.set_threshold(state.settings.serve.gc_gen0_threshold, *thresholds[1:])
    state.watcher.start()
    state.drift.start()
    if state.inference_log is not None:
        state.inference_log.start()
    log.info(
        "serving %s from %s (models load in the background; see /ready)",
        ", ".join(state.holder.slots),
        state.settings.lake_root,
    )
    try:
        yield
    finally:
        if state.inference_log is not None:
            state.inference_log.stop()  # what is buffered is written before the exit
        state.drift.stop()
        state.watcher.stop()
        limiter.restore_original_limits()
        gc.set_threshold(*thresholds)


def create_app(
    service: ServiceSettings | None = None, *, settings: Settings | None = None
) -> FastAPI:
    """The FastAPI app.

    Args:
        service: Process settings (environment variables); read from the environment when
            neither argument is given.
        settings: The lakehouse configuration itself (wins over ``service``).
    """
    if settings is None:
        # started from the environment (`uvicorn --factory serving.main:create_app`): its
        # LAKEHOUSE_LOG_LEVEL and LAKEHOUSE_LOG_FORMAT, as `lakehouse serve` applies them
        service = service or ServiceSettings()
        from lakehouse.log_setup import configure_logging

        configure_logging(False, service.log_format, service.log_level)
        settings = service.lakehouse()
    # the tracking database's password and the online store's URL, when configured, before
    # anything is served; the service tokenizes nothing, so it never holds the PII key
    # PII masked in every log line, uvicorn's handlers included when it loads this factory
    install_scrubber()
    check_secrets(settings, pii=False, serving=True)
    keys = load_keys(settings)  # before anything is served, too
    app = FastAPI(
        title="lakehouse prediction service",
        summary="Delivery-date prediction and fraud scoring from the lakehouse's models",
        version="1",
        lifespan=lifespan,
    )
    app.state.service = build_state(settings, keys)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=app.state.service.metrics,
        max_body_bytes=settings.serve.max_body_bytes,
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
