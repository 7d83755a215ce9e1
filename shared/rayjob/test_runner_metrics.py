"""The runner's metrics (runner_metrics.py): what a Runner reports of one deliberation with a retried
call, through a recording RunnerMetrics, and that the Serve metrics can be made and recorded."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import redis

from conftest import PREFIX, contract_key, make_request, wait_result
from fakemodel_client import Behaviour, FakeModelServer
from runner_consumer import Runner
from runner_metrics import ServeMetrics
from runner_settings import Settings


@dataclass
class Recording:
    calls: list[tuple[str, str, float]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    held: list[tuple[int, int]] = field(default_factory=list)
    lags: list[int] = field(default_factory=list)

    def model_call(self, origin: str, outcome: str, seconds: float) -> None:
        self.calls.append((origin, outcome, seconds))

    def queue_wait(self, seconds: float) -> None:
        self.waits.append(seconds)

    def figures(self, deliberations: int, calls: int) -> None:
        self.held.append((deliberations, calls))

    def queue_lag(self, entries: int) -> None:
        self.lags.append(entries)


def test_a_runner_reports_calls_by_origin_and_outcome(redis_url: str, server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(fail_status=503, fail_times=1, delay=0.3))
    request = make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}])
    client = redis.Redis.from_url(redis_url)
    client.hset(contract_key("attempt", "att-m"), mapping={"state": "PENDING"})
    client.xadd(contract_key("queue", "att-m"), {"attempt": "att-m", "request": json.dumps(request),
                                               "deadline": repr(time.time() + 30), "callback": ""})
    time.sleep(0.2)  # a queue wait to measure
    recording = Recording()
    runner = Runner(Settings(redis_url=redis_url, key_prefix=PREFIX, heartbeat_s=0.1, allowed_origins=None),
                    metrics=recording)
    runner.start()
    try:
        assert wait_result(client, "att-m")["state"] == "SUCCEEDED"
        runner.stats()  # asks for the queue's lag
        time.sleep(0.3)
    finally:
        runner.stop()
    origin = server.url  # canonical already: scheme, 127.0.0.1 and its port
    outcomes = [(o, outcome) for o, outcome, _ in recording.calls]
    assert outcomes == [(origin, "http_503"), (origin, "ok"), (origin, "ok")], "a1 twice, then the judge"
    assert all(seconds >= 0.3 for _, _, seconds in recording.calls[:2]), "the fake's delay is in the latency"
    assert len(recording.waits) == 1 and recording.waits[0] >= 0.2
    assert (1, 1) in recording.held, "a heartbeat saw the deliberation and its call on the wire"
    assert recording.lags and recording.lags[-1] == 0


def test_serve_metrics_record_outside_a_replica() -> None:
    metrics = ServeMetrics()
    metrics.model_call("http://127.0.0.1:1", "ok", 0.2)
    metrics.queue_wait(-1.0)  # clock skew between Redis and the replica: counted as no wait
    metrics.figures(3, 7)
    metrics.queue_lag(5)
