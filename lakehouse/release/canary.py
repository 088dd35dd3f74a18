"""``lakehouse canary-judge``: promote a canary release or roll it back, from Prometheus.

The canary (the new release's pods) and the baseline (the stable ones) take the same traffic;
their prediction routes (``/v1/...``) are compared over a window from the service's own
metrics (``lakehouse_http_requests_total``, ``lakehouse_http_request_duration_seconds``) as
Prometheus scraped them. The canary fails when its 5xx rate is above both ``max_error_rate``
and the baseline's rate plus ``error_margin``, or when its p99 is above both ``p99_floor_s``
and ``p99_ratio`` times the baseline's; a failure seen during the window aborts at once. At the
end of the window it must also have served ``min_requests``: no traffic proves nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

ROUTES = 'route=~"/v1/.*"'
REQUESTS = "lakehouse_http_requests_total"
LATENCY = "lakehouse_http_request_duration_seconds_bucket"


class JudgeError(RuntimeError):
    """Prometheus could not be asked, or answered something unusable."""


@dataclass(frozen=True)
class Thresholds:
    """What the canary must stay within."""

    max_error_rate: float = 0.01
    error_margin: float = 0.005
    p99_floor_s: float = 0.025
    p99_ratio: float = 1.5
    min_requests: int = 100


@dataclass(frozen=True)
class Reading:
    """One side's prediction traffic over a window."""

    requests: float
    errors: float
    p99_s: float  # NaN without traffic

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def describe(self) -> str:
        p99 = "n/a" if math.isnan(self.p99_s) else f"{self.p99_s * 1000:.1f} ms"
        return f"{self.requests:.0f} requests, {self.error_rate:.2%} 5xx, p99 {p99}"


@dataclass
class Verdict:
    """The decision and why; ``promote`` is False for an abort."""

    promote: bool
    reasons: list[str] = field(default_factory=list)
    canary: Reading | None = None
    baseline: Reading | None = None


def matchers(selector: str) -> str:
    """``{a="x",b=~"y"}`` (or ``a="x"``) as the inside of a PromQL matcher list."""
    inner = selector.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1]
    inner = inner.strip().strip(",")
    if not inner or "=" not in inner:
        raise ValueError(f"{selector!r} is not a label selector such as '{{pod=~\"web-.*\"}}'")
    return inner


class Prometheus:
    """Instant queries against Prometheus' HTTP API."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s)

    def scalar(self, query: str) -> float:
        """The query's single value; 0 when it matches no series (no traffic)."""
        try:
            response = self.client.get("/api/v1/query", params={"query": query})
        except httpx.HTTPError as exc:
            raise JudgeError(f"Prometheus unreachable: {type(exc).__name__}: {exc}") from exc
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if response.status_code != 200 or body.get("status") != "success":
            raise JudgeError(
                f"query {query!r}: HTTP {response.status_code} {body.get('error', '')}"
            )
        result = body["data"]["result"]
        if not result:
            return 0.0
        if len(result) > 1:
            raise JudgeError(f"query {query!r} returned {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def reading(self, selector: str, window_s: int) -> Reading:
        where = f"{matchers(selector)},{ROUTES}"
        window = f"[{int(window_s)}s]"
        requests = self.scalar(f"sum(increase({REQUESTS}{{{where}}}{window}))")
        errors = self.scalar(f'sum(increase({REQUESTS}{{{where},status=~"5.."}}{window}))')
        p99 = math.nan
        if requests > 0:
            p99 = self.scalar(
                f"histogram_quantile(0.99, sum by (le) (rate({LATENCY}{{{where}}}{window})))"
            )
        return Reading(requests, errors, p99)

    def close(self) -> None:
        self.client.close()


def failures(canary: Reading, baseline: Reading, limits: Thresholds) -> list[str]:
    """What is wrong with the canary, compared with the baseline (empty when nothing)."""
    found = []
    allowed = max(limits.max_error_rate, baseline.error_rate + limits.error_margin)
    if canary.requests and canary.error_rate > allowed:
        found.append(
            f"5xx rate {canary.error_rate:.2%} > {allowed:.2%} (baseline {baseline.error_rate:.2%})"
        )
    if not math.isnan(canary.p99_s):
        reference = 0.0 if math.isnan(baseline.p99_s) else baseline.p99_s * limits.p99_ratio
        ceiling = max(limits.p99_floor_s, reference)
        if canary.p99_s > ceiling:
            found.append(f"p99 {canary.p99_s * 1000:.1f} ms > {ceiling * 1000:.1f} ms")
    return found


def judge(
    prometheus: Prometheus,
    baseline: str,
    canary: str,
    *,
    window_s: int,
    interval_s: float = 15.0,
    limits: Thresholds = Thresholds(),
    report: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> Verdict:
    """Watch both sides for ``window_s`` seconds, then decide.

    During the window the canary is checked every ``interval_s`` over what it has served so far
    (once it has ``min_requests``): a failure aborts at once. At the end both sides are read
    over the whole window.
    """
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < window_s:
        sleep(min(interval_s, window_s - elapsed))
        seen = max(int(time.monotonic() - started), 1)
        now_canary = prometheus.reading(canary, seen)
        now_baseline = prometheus.reading(baseline, seen)
        report(f"{seen:>5}s canary: {now_canary.describe()} | baseline: {now_baseline.describe()}")
        if now_canary.requests >= limits.min_requests:
            found = failures(now_canary, now_baseline, limits)
            if found:
                return Verdict(False, found, now_canary, now_baseline)
    final_canary = prometheus.reading(canary, window_s)
    final_baseline = prometheus.reading(baseline, window_s)
    found = failures(final_canary, final_baseline, limits)
    if final_canary.requests < limits.min_requests:
        found.append(
            f"the canary served {final_canary.requests:.0f} prediction requests in "
            f"{window_s}s, fewer than {limits.min_requests}: nothing to judge"
        )
    return Verdict(not found, found, final_canary, final_baseline)
