"""A replica's figures: what it writes to the replicas hash every heartbeat and removes on a clean
stop, and the p99 its event-loop lag is reported as. What record_autoscaling_stats answers is
checked where the replica holds work (test_runner_reading.py)."""

from __future__ import annotations

import collections
import json
import time

import redis

from conftest import contract_key, enqueue, make_request, start_runner, wait_result
from fakemodel_client import Behaviour, FakeModelServer
from runner_consumer import Runner
from runner_figures import p99


def test_the_replica_writes_its_figures_and_removes_them_on_a_clean_stop(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p", delay=0.5))
    enqueue(client, "delib-r", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"},
                                                         {"agent_id": "a2", "role": "QA", "model": "m1"}]))
    runner = start_runner(redis_url, runners)
    wait_result(client, "delib-r")
    time.sleep(0.5)  # a heartbeat (0.2 s) after the run
    figures = json.loads(client.hget(contract_key("replicas"), runner.consumer) or b"{}")
    assert set(figures) == {"in_flight", "peak_calls", "loop_lag_p99_ms", "updated_ms"}
    assert figures["peak_calls"] == 2, "the two agents at once, then the judge alone"
    assert figures["in_flight"] == 0 and figures["loop_lag_p99_ms"] >= 0
    runner.stop()
    assert client.hget(contract_key("replicas"), runner.consumer) is None


def test_the_loop_lag_p99_is_the_99th_of_100_samples_and_zero_without_any() -> None:
    assert p99(collections.deque()) == 0.0
    assert p99(collections.deque(float(i) for i in range(100, 0, -1))) == 99.0
    assert p99(collections.deque([0.5])) == 0.5
