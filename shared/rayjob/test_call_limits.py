"""The limits of calls on the wire against the fake: a busy origin is held at its own limit and
never starves another origin, and a client never has more than max_calls on the wire."""

from __future__ import annotations

import asyncio
import time

from conftest import on_client
from fakemodel_client import Behaviour, FakeModelServer
from model_client import ModelClient, call_with_retries
from policy import CHAT_PATH


def peak_overlap(starts: list[float], latency: float) -> int:
    """The most calls in flight at once, each taking latency from its start."""
    events = sorted([(t, 1) for t in starts] + [(t + latency, -1) for t in starts], key=lambda e: (e[0], e[1]))
    peak = now = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def test_a_busy_origin_holds_its_own_limit_and_never_starves_another(
        server: FakeModelServer, other: FakeModelServer) -> None:
    server.set_model("slow", Behaviour(answer="a", delay=1.0))
    other.set_model("quick", Behaviour(answer="b"))
    bounded = ModelClient(max_calls=100, max_calls_per_origin=3)
    quick_done: list[float] = []

    async def burst(client: ModelClient) -> float:
        async def quick() -> None:
            await asyncio.sleep(0.1)  # once the slow origin is full
            await call_with_retries(client, other.url + CHAT_PATH, {"model": "quick"}, time.time() + 10, 0, "")
            quick_done.append(time.monotonic())

        began = time.monotonic()
        await asyncio.gather(*(call_with_retries(client, server.url + CHAT_PATH, {"model": "slow"},
                                                 time.time() + 10, 0, "") for _ in range(9)),
                             *(quick() for _ in range(5)))
        return began

    began = on_client(burst, bounded)
    slow = [r.started for r in server.chat_requests("slow")]
    assert len(slow) == 9 and peak_overlap(slow, 1.0) <= 3, "at most 3 at the slow origin at once"
    assert peak_overlap(slow, 1.0) == 3
    assert len(other.chat_requests("quick")) == 5
    assert max(quick_done) - began < 0.9, "the other origin's calls went while the slow one was full"
    assert bounded.limits.peak_in_flight > 3, "quick calls in flight beside the slow origin's three"


def test_calls_in_flight_are_bounded_per_client(server: FakeModelServer) -> None:
    server.set_model("slow", Behaviour(answer="a", delay=0.5))
    bounded = ModelClient(max_calls=4, max_calls_per_origin=100)

    async def burst(client: ModelClient) -> None:
        await asyncio.gather(*(call_with_retries(client, server.url + CHAT_PATH, {"model": "slow"},
                                                 time.time() + 10, 0, "") for _ in range(10)))

    on_client(burst, bounded)
    assert peak_overlap([r.started for r in server.chat_requests("slow")], 0.5) == 4
    assert bounded.limits.peak_in_flight == 4
