"""A replica Serve stops (the deployment's __del__, as Serve calls it) drains: what finishes within
drain_s is stored, the rest is handed back without a delivery counted and claimed at once by
another replica. test_runner_on_serve.py checks the same under Serve itself."""

from __future__ import annotations

import time

import redis

from conftest import (
    PREFIX,
    contract_key,
    deliveries_of,
    enqueue,
    make_request,
    pending_of,
    queue_is_empty,
    start_runner,
    wait_result,
)
from deliberation_runner import DeliberationRunner
from fakemodel_client import Behaviour, FakeModelServer
from runner_consumer import Runner
from runner_settings import Settings


def test_a_draining_replica_hands_back_what_it_cannot_finish(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer) -> None:
    server.set_model("slow", Behaviour(answer="p", delay=6.0))
    enqueue(client, "delib-h", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "slow"}]))
    settings = Settings(redis_url=redis_url, key_prefix=PREFIX,
                        allowed_origins=None, claim_idle_s=3.0, heartbeat_s=0.2, drain_s=0.5)
    replica = DeliberationRunner(settings)  # the Serve deployment's class, as Serve drives it
    until = time.time() + 5
    while not server.agent_requests() and time.time() < until:
        time.sleep(0.02)
    began = time.time()
    replica.__del__()  # what Serve calls on scale-down
    assert time.time() - began < 3.0, "the drain waits drain_s, then hands back"
    [(consumer, delivered, idle_ms)] = deliveries_of(client)
    assert consumer == replica.runner.consumer and delivered == 1, "handed back, no delivery counted"
    assert idle_ms >= 3000, "idle as long as a dead replica's entry: claimable at once"
    assert client.get(contract_key("result", "delib-h")) is None
    assert client.hget(contract_key("replicas"), replica.runner.consumer) is None
    taken = time.time()
    start_runner(redis_url, runners, claim_idle_s=3.0)
    record = wait_result(client, "delib-h", within=15)
    assert record["state"] == "SUCCEEDED"
    assert time.time() - taken < 1.0 + 6.0 + 2.0, "claimed at the other replica's first reclaim (claim_idle_s / 3)"
    assert len(server.agent_requests()) == 2
    assert queue_is_empty(client)


def test_a_draining_replica_finishes_what_it_can_within_drain_s(
        client: redis.Redis, redis_url: str, server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p", delay=1.0))
    enqueue(client, "delib-f", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
    replica = DeliberationRunner(Settings(redis_url=redis_url, key_prefix=PREFIX,
                                          allowed_origins=None, claim_idle_s=3.0, heartbeat_s=0.2,
                                          drain_s=10.0))
    until = time.time() + 5
    while not server.agent_requests() and time.time() < until:
        time.sleep(0.02)
    enqueue(client, "delib-later", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
    replica.__del__()
    assert wait_result(client, "delib-f", within=0.1)["state"] == "SUCCEEDED"
    assert pending_of(client) == 0, "nothing left held by the drained replica"
    # The later entry was either read by the last read and finished too, or never read.
    later = client.get(contract_key("result", "delib-later"))
    assert later is not None or client.xlen(contract_key("queue", "delib-later")) == 1
