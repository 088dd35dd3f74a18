"""A small closed-loop HTTP load generator (127.0.0.1 only, bounded in time and count).

Each of ``concurrency`` keep-alive connections sends its next request as soon as the previous
answer is in, for ``seconds``. Raw HTTP/1.1 over asyncio streams, so the client costs little
of the 2-core machine the server shares with it. The service's tests (a load run with zero
errors, hot swaps under load) and ``benchmarks/bench_serving.py`` drive the service with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson

MAX_REQUESTS = 200_000  # a hard stop besides the time limit


@dataclass
class Sample:
    """One request: when it started, how long it took, its status and what it said."""

    started: float
    seconds: float
    status: int
    answer: object


@dataclass
class LoadResult:
    """Everything a load run saw."""

    samples: list[Sample] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def errors(self) -> list[Sample]:
        """Answers other than 200."""
        return [s for s in self.samples if s.status != 200]

    @property
    def rate(self) -> float:
        """Requests per second."""
        return len(self.samples) / self.elapsed if self.elapsed else 0.0

    def quantile(self, q: float) -> float:
        """A latency quantile in milliseconds."""
        latencies = sorted(s.seconds for s in self.samples)
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3

    def summary(self) -> str:
        """Rate and latency quantiles, for the test log."""
        return (
            f"{len(self.samples)} requests, {self.rate:.0f}/s, p50 {self.quantile(0.5):.2f} ms, "
            f"p99 {self.quantile(0.99):.2f} ms, {len(self.errors)} errors"
        )


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, body: bytes
) -> tuple[int, bytes]:
    """One POST on an open keep-alive connection: (status, answer body)."""
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    header = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in header.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return int(header[9:12]), await reader.readexactly(length)


async def _connection(
    port: int,
    requests: Sequence[tuple[str, bytes]],
    deadline: float,
    result: LoadResult,
    pick: Callable[[bytes], object],
    offset: int,
    stride: int,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < deadline and len(result.samples) < MAX_REQUESTS:
            path, body = requests[i % len(requests)]
            i += stride
            started = time.perf_counter()
            status, payload = await _exchange(reader, writer, path, body)
            result.samples.append(
                Sample(started, time.perf_counter() - started, status, pick(payload))
            )
    finally:
        writer.close()


async def run_load(
    port: int,
    requests: Sequence[tuple[str, bytes]],
    *,
    concurrency: int = 8,
    seconds: float = 3.0,
    pick: Callable[[bytes], object] = lambda payload: None,
) -> LoadResult:
    """Send ``requests`` (path, JSON body), cycled, over ``concurrency`` connections.

    Connection ``k`` sends requests ``k``, ``k + concurrency``, ...: no two connections send
    the same request at once, and the list is gone through in order.

    Args:
        port: The server's port on 127.0.0.1.
        requests: What to send.
        concurrency: Connections, each with one request in flight.
        seconds: How long.
        pick: What to keep of each answer (e.g. the model version).
    """
    result = LoadResult()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _connection(port, requests, deadline, result, pick, offset, concurrency)
            for offset in range(concurrency)
        )
    )
    result.elapsed = time.perf_counter() - started
    result.samples.sort(key=lambda s: s.started)
    return result


async def timed_requests(
    port: int, path: str, bodies: Sequence[bytes]
) -> tuple[list[float], list[int]]:
    """Send ``bodies`` to ``path`` one after the other on one connection.

    Returns:
        Each request's seconds and status.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    seconds, statuses = [], []
    try:
        for body in bodies:
            started = time.perf_counter()
            status, _payload = await _exchange(reader, writer, path, body)
            seconds.append(time.perf_counter() - started)
            statuses.append(status)
    finally:
        writer.close()
    return seconds, statuses


def body(value: object) -> bytes:
    """A JSON request body."""
    return orjson.dumps(value)


def model_version(payload: bytes) -> str | None:
    """The model version an answer names (None for an error answer)."""
    try:
        return orjson.loads(payload)["model"]["version"]
    except (KeyError, TypeError, orjson.JSONDecodeError):
        return None
