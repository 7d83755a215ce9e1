"""A replica's figures: its event loop's lag (how late a short sleep wakes up, kept as a p99 of
the last probes), the queue's lag (entries not yet delivered to the group), what it writes to the
replicas hash every heartbeat (replica_figures) and what Serve's autoscaling policy reads from
record_autoscaling_stats (autoscaling_stats, whose names are the policy's)."""

from __future__ import annotations

import asyncio
import collections
import math
import time
from typing import Any

import redis.asyncio

from runner_queue import GROUP

# The event-loop lag probe: a sleep this long, its overshoot kept for the last LAG_WINDOW probes.
LAG_PROBE_S = 0.05
LAG_WINDOW = 1200
LAG_EVERY = 20  # probes between two p99s: about a second
QUEUE_LAG_EVERY_S = 1.0


def p99(samples: collections.deque[float]) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


class LoopLag:
    """The lag of the event loop that probes it."""

    def __init__(self) -> None:
        self.lags: collections.deque[float] = collections.deque(maxlen=LAG_WINDOW)
        self.p99_ms = 0.0  # of self.lags, computed on the loop: other threads read only this
        self.probes = 0

    async def probe(self) -> None:
        """One probe: how late a short sleep wakes up."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(LAG_PROBE_S)
        self.lags.append(max(0.0, loop.time() - started - LAG_PROBE_S))
        self.probes += 1
        if self.probes % LAG_EVERY == 0 or self.probes < LAG_EVERY:
            self.p99_ms = p99(self.lags) * 1000


async def queue_lag(client: redis.asyncio.Redis, queues: list[str]) -> int:
    """Entries not yet delivered to the group, summed over the shards' streams: all of them but
    the pending ones (what is done is deleted)."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.xlen(queue)
        pipe.xpending(queue, GROUP)
    answers = await pipe.execute()
    return sum(max(0, int(length) - int(pending["pending"])) for length, pending in zip(answers[::2], answers[1::2],
                                                                                        strict=True))


def replica_figures(in_flight: int, peak_calls: int, lag_p99_ms: float) -> dict[str, Any]:
    """This replica's line of the replicas hash (the bench reads it)."""
    return {"in_flight": in_flight, "peak_calls": peak_calls,
            "loop_lag_p99_ms": round(lag_p99_ms, 1), "updated_ms": int(time.time() * 1000)}


def autoscaling_stats(in_flight: int, queue_lag: int, capacity: int, lag_p99_ms: float) -> dict[str, float]:
    """What the autoscaling policy reads (record_autoscaling_stats): the names are its."""
    return {"runner_in_flight": float(in_flight), "runner_queue_lag": float(queue_lag),
            "runner_capacity": float(capacity), "runner_loop_lag_p99_ms": lag_p99_ms}
