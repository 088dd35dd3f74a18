"""``lakehouse smoke``: is a freshly deployed service answering as it should?

Runs against any URL (a staging Service, a port-forward, a local ``lakehouse serve``): alive,
ready, every model ``/ready`` says answers scores one example record with a well-formed answer,
and a malformed record is refused with 422. Nothing is written: fraud scoring adds the example
transaction to that replica's velocity state, as any scored transaction does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from serving.schemas.examples import example_checkout, example_transaction

ROUTES = {"delivery": "/v1/delivery/predict", "fraud": "/v1/fraud/score"}


@dataclass
class Check:
    """One check's outcome, as printed."""

    name: str
    ok: bool
    detail: str
    seconds: float

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.name:<28} {self.seconds * 1000:7.1f} ms  {self.detail}"


@dataclass
class SmokeResult:
    """Every check, in order; passed when all passed and at least one model answered."""

    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def _delivery_answer(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("predicted_delivery_days"), int | float):
        return "no predicted_delivery_days"
    if not body.get("predicted_delivery_date"):
        return "no predicted_delivery_date"
    return None


def _fraud_answer(body: dict[str, Any]) -> str | None:
    probability = body.get("fraud_probability")
    if not isinstance(probability, int | float) or not 0 <= probability <= 1:
        return f"fraud_probability {probability!r} is not in [0, 1]"
    if not isinstance(body.get("is_fraud"), bool):
        return "no is_fraud decision"
    return None


ANSWERS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "delivery": _delivery_answer,
    "fraud": _fraud_answer,
}


def run_smoke(
    url: str,
    api_key: str | None = None,
    *,
    wait_ready_s: float = 120.0,
    records: dict[str, dict[str, Any]] | None = None,
    timeout_s: float = 10.0,
) -> SmokeResult:
    """Run every check against ``url``.

    Args:
        url: The service's base URL.
        api_key: Sent as ``X-API-Key`` (a key with the predict role is enough).
        wait_ready_s: How long ``/ready`` may take to answer 200 (a rollout just finished).
        records: Per task, the record to score instead of the contract's example (one whose
            zip codes, warehouses and accounts the deployed lake knows).
        timeout_s: Per request.
    """
    records = {
        "delivery": example_checkout(),
        "fraud": example_transaction(),
        **(records or {}),
    }
    headers = {"X-API-Key": api_key} if api_key else {}
    result = SmokeResult()

    def check(name: str, call: Callable[[], str | tuple[bool, str] | None]) -> bool:
        started = time.perf_counter()
        try:
            outcome = call()
            ok, detail = (
                (outcome is None, outcome or "") if not isinstance(outcome, tuple) else outcome
            )
        except httpx.HTTPError as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        result.checks.append(Check(name, ok, detail, time.perf_counter() - started))
        return ok

    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s) as client:

        def health() -> str | None:
            response = client.get("/health")
            return None if response.status_code == 200 else f"HTTP {response.status_code}"

        ready_body: dict[str, Any] = {}

        def ready() -> tuple[bool, str]:
            deadline = time.monotonic() + wait_ready_s
            while True:
                response = client.get("/ready")
                if response.status_code == 200:
                    ready_body.update(response.json())
                    answering = ready_body.get("answering") or []
                    return bool(answering), f"{ready_body.get('status')}; answering {answering}"
                if time.monotonic() >= deadline:
                    return (
                        False,
                        f"HTTP {response.status_code} after {wait_ready_s:.0f}s: "
                        + response.text[:300],
                    )
                time.sleep(1.0)

        if not check("GET /health", health) or not check("GET /ready", ready):
            return result
        for task in ready_body.get("answering", []):
            if task not in ROUTES:
                continue
            route = ROUTES[task]

            def score(task=task, route=route) -> str | None:
                response = client.post(route, json=records[task])
                if response.status_code != 200:
                    return f"HTTP {response.status_code}: {response.text[:300]}"
                body = response.json()
                problem = ANSWERS[task](body)
                if problem:
                    return problem
                model = body.get("model") or {}
                if not model.get("version"):
                    return "the answer names no model version"
                return None

            def refuse(route=route) -> str | None:
                response = client.post(route, json={"not": "a record"})
                if response.status_code != 422:
                    return f"a malformed record got HTTP {response.status_code}, not 422"
                return None

            check(f"POST {route}", score)
            check(f"POST {route} (malformed)", refuse)
    return result
