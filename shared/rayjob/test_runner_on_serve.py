"""The runner as Serve runs it, on the tests' Ray head (skipped without RAY_TEST_GCS_ADDRESS,
failing under CI=true): when Serve stops a replica (here by deleting its application; a scale-down
is the same call) the replica drains and hands back what it cannot finish."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
import redis
from ray import serve

import deliberation_runner as runner_module
import runner_settings
from conftest import contract_key, make_request
from fakemodel_client import Behaviour, FakeModelServer
from runner_queue import GROUP

APP = "runner-drain-test"
PREFIX = "sd"
JOB_DIR = Path(__file__).resolve().parent


@pytest.fixture
def on_ray(ray_gcs_address: str) -> Iterator[None]:
    ray.init(address=ray_gcs_address, runtime_env={"working_dir": str(JOB_DIR), "excludes": ["test_*", "*.go"]})
    try:
        yield
    finally:
        try:
            serve.delete(APP)
        finally:
            ray.shutdown()


def test_a_replica_serve_stops_hands_back_its_attempt(on_ray: None, redis_url: str,
                                                      server: FakeModelServer) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    server.set_model("slow", Behaviour(answer="p", delay=30.0))
    serve.start(http_options={"location": "NoServer"})
    settings = runner_settings.Settings(redis_url=redis_url, key_prefix=PREFIX,
                                        allowed_origins=None, claim_idle_s=30.0, drain_s=2.0)
    serve.run(runner_module.RUNNER_DEPLOYMENT.options(graceful_shutdown_timeout_s=10).bind(settings),
              name=APP, route_prefix=None)
    client.hset(contract_key("attempt", "d1", prefix=PREFIX), mapping={"state": "PENDING"})
    client.xadd(contract_key("queue", "d1", prefix=PREFIX), {
        "attempt": "d1", "callback": "", "deadline": repr(time.time() + 60),
        "request": json.dumps(make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "slow"}]))})
    until = time.time() + 30
    while not server.agent_requests() and time.time() < until:
        time.sleep(0.1)
    assert server.agent_requests(), "the replica runs the attempt"
    began = time.time()
    serve.delete(APP)
    assert time.time() - began < 10.0, "drained within graceful_shutdown_timeout_s"
    [pending] = client.xpending_range(contract_key("queue", "d1", prefix=PREFIX), GROUP, "-", "+", 10)
    assert int(pending["times_delivered"]) == 1, "the hand-back counts no delivery"
    assert int(pending["time_since_delivered"]) >= 30_000, "idle as long as a dead replica's: claimable at once"
    assert client.get(contract_key("result", "d1", prefix=PREFIX)) is None
    assert client.hkeys(contract_key("replicas", prefix=PREFIX)) == []
