"""How a replica takes work: as many entries as it has free slots and none when full, all its free
slots in one read, a dead replica's entry claimed after claim_idle_s, a long run kept by its
heartbeat, and an attempt given up after max_deliveries."""

from __future__ import annotations

import time

import redis

from conftest import (
    SHARDS,
    contract_key,
    enqueue,
    make_request,
    pending_of,
    queue_is_empty,
    queues,
    shard_of,
    start_runner,
    wait_result,
)
from fakemodel_client import Behaviour, FakeModelServer
from runner_consumer import Runner
from runner_queue import GROUP


def test_a_runner_takes_as_many_entries_as_it_has_free_slots_and_none_when_full(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer) -> None:
    server.set_model("slow", Behaviour(answer="p", delay=3.0))
    for i in range(5):
        enqueue(client, f"delib-{i}", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "slow"}]))
    runner = start_runner(redis_url, runners, max_deliberations=3)
    until = time.time() + 5
    while len(server.agent_requests()) < 3 and time.time() < until:
        time.sleep(0.02)
    time.sleep(1.5)  # more than a read's block: a runner reading while full would show here
    assert pending_of(client) == 3, "three slots, three entries taken"
    assert sum(client.xlen(queue) for queue in queues()) == 5
    assert len(server.agent_requests()) == 3
    runner.stats()  # the first call asks for the queue's lag; the answer is cached
    time.sleep(0.3)
    stats = runner.stats()
    assert sorted(stats) == ["runner_capacity", "runner_in_flight", "runner_loop_lag_p99_ms", "runner_queue_lag"]
    assert (stats["runner_in_flight"], stats["runner_queue_lag"], stats["runner_capacity"]) == (3.0, 2.0, 3.0)
    assert 0 <= stats["runner_loop_lag_p99_ms"] < 1000
    for i in range(5):
        assert wait_result(client, f"delib-{i}", within=20)["state"] == "SUCCEEDED"
    assert queue_is_empty(client)


def test_every_free_slot_is_filled_in_one_read(client: redis.Redis, runners: list[Runner], redis_url: str,
                                               server: FakeModelServer) -> None:
    server.set_model("slow", Behaviour(answer="p", delay=2.0))
    for i in range(40):
        enqueue(client, f"delib-{i}", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "slow"}]))
    start_runner(redis_url, runners, max_deliberations=30)
    until = time.time() + 5
    while len(server.agent_requests()) < 30 and time.time() < until:
        time.sleep(0.02)
    starts = sorted(r.started for r in server.agent_requests())
    assert len(starts) == 30 and pending_of(client) == 30
    assert starts[-1] - starts[0] < 0.5, "taken together, not one read at a time"


def test_a_dead_replicas_attempt_is_taken_over(client: redis.Redis, runners: list[Runner],
                                               redis_url: str, server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p"))
    client.xgroup_create(contract_key("queue", "delib-t"), GROUP, id="0", mkstream=True)
    enqueue(client, "delib-t", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
    # A replica that read the entry and died: it stays pending under that consumer.
    client.xreadgroup(GROUP, "dead-replica", {contract_key("queue", "delib-t"): ">"}, count=1)
    taken = time.time()
    start_runner(redis_url, runners)
    record = wait_result(client, "delib-t")
    assert record["state"] == "SUCCEEDED"
    assert time.time() - taken >= 0.9, "claimed only after claim_idle_s"
    assert queue_is_empty(client)


def test_a_long_attempt_is_not_taken_over(client: redis.Redis, runners: list[Runner], redis_url: str,
                                          server: FakeModelServer) -> None:
    server.set_model("slow", Behaviour(answer="p", delay=3.0))
    start_runner(redis_url, runners)
    start_runner(redis_url, runners)
    enqueue(client, "delib-l", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "slow"}]))
    record = wait_result(client, "delib-l")
    assert record["state"] == "SUCCEEDED"
    assert len(server.agent_requests()) == 1, "the heartbeat kept the other replica off it"


def test_gives_up_after_max_deliveries(client: redis.Redis, runners: list[Runner], redis_url: str,
                                       server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p"))
    enqueue(client, "delib-x", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
    queue = contract_key("queue", "delib-x")
    client.xgroup_create(queue, GROUP, id="0")
    client.xreadgroup(GROUP, "dead-1", {queue: ">"}, count=1)
    entry = client.xpending_range(queue, GROUP, "-", "+", 1)[0]["message_id"]
    for dead in ("dead-2", "dead-3"):  # two more replicas took it and died
        client.xclaim(queue, GROUP, dead, 0, [entry])
    start_runner(redis_url, runners, max_deliveries=3)
    record = wait_result(client, "delib-x")
    assert record["state"] == "FAILED" and record["infrastructure"] is True
    assert "lost this attempt 3 times" in record["result"]["failures"][0]["error"]
    assert server.agent_requests() == []


def test_every_shard_is_read_and_none_starves_with_fewer_slots_than_shards(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p", delay=0.3))
    # Three attempts in every shard, and a replica with two slots for eight shards.
    attempts: dict[int, list[str]] = {}
    i = 0
    while any(len(attempts.get(s, [])) < 3 for s in range(SHARDS)):
        name = f"delib-f{i}"
        i += 1
        if len(attempts.setdefault(shard_of(name), [])) < 3:
            attempts[shard_of(name)].append(name)
            enqueue(client, name, make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
    start_runner(redis_url, runners, max_deliberations=2)
    most = 0
    until = time.time() + 40
    names = [name for shard in attempts.values() for name in shard]
    while time.time() < until and not all(client.exists(contract_key("result", name)) for name in names):
        most = max(most, pending_of(client))
        time.sleep(0.02)
    assert most <= 2, f"held {most} entries with two slots"
    for names in attempts.values():
        for name in names:
            assert wait_result(client, name, within=0.1)["state"] == "SUCCEEDED"
    assert queue_is_empty(client)
