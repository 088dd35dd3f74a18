"""Dependencies the routers declare: the model holder, the feature state, the services.

Everything lives on ``app.state.service`` (built by ``create_app``), so each app, and each
test client, has its own. The functions are ``async`` although they do not await: FastAPI
runs a plain ``def`` dependency in a worker thread, a hop that cost more than the rest of
the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from lakehouse.api_keys import KeyRing
from lakehouse.config import Settings
from serving.batcher import MicroBatcher
from serving.drift import DriftMonitor
from serving.holder import ModelHolder
from serving.inference_log import InferenceLog
from serving.metrics import Metrics
from serving.predict import DeliveryService, FraudService
from serving.state import OnlineFeatures
from serving.watcher import Watcher


@dataclass
class ServiceState:
    """Everything one app instance holds."""

    settings: Settings
    metrics: Metrics
    holder: ModelHolder
    features: OnlineFeatures
    batcher: MicroBatcher
    delivery: DeliveryService
    fraud: FraudService
    watcher: Watcher
    drift: DriftMonitor
    keys: KeyRing | None = None  # the accepted API keys; None when authentication is off
    inference_log: InferenceLog | None = None  # None when serve.inference_log.enabled is off


async def get_state(request: Request) -> ServiceState:
    """The app's ``ServiceState``."""
    return request.app.state.service


async def get_holder(request: Request) -> ModelHolder:
    """The model holder."""
    return request.app.state.service.holder


async def get_features(request: Request) -> OnlineFeatures:
    """The online feature state."""
    return request.app.state.service.features


async def get_delivery(request: Request) -> DeliveryService:
    """The delivery prediction service."""
    return request.app.state.service.delivery


async def get_fraud(request: Request) -> FraudService:
    """The fraud scoring service."""
    return request.app.state.service.fraud


StateDep = Annotated[ServiceState, Depends(get_state)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
FeaturesDep = Annotated[OnlineFeatures, Depends(get_features)]
DeliveryDep = Annotated[DeliveryService, Depends(get_delivery)]
FraudDep = Annotated[FraudService, Depends(get_fraud)]
