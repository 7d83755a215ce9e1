"""Runners of several Ray clusters on one queue: a pool's entries are read only by the runners that
serve it; every runner writes its cluster into the marker and the record; two clusters share a
burst; a draining cluster takes nothing new and finishes what it holds while the other takes the
rest; a killed cluster's pending entries are claimed by the other and each runs exactly once."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from conftest import (
    PREFIX,
    SHARDS,
    contract_key,
    enqueue,
    make_request,
    pool_queue,
    queue_is_empty,
    start_runner,
    wait_result,
)
from fakemodel_client import Behaviour, FakeModelServer
from request import parse_request
from runner_cluster import DRAIN_CHECK_S, is_draining
from runner_consumer import Runner
from runner_queue import GROUP
from runner_settings import Settings


def one_agent(server: FakeModelServer, model: str = "m1") -> dict[str, Any]:
    return make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": model}])


def text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def set_draining(client: redis.Redis, cluster: str, draining: bool) -> None:
    """What the functions write from their configuration."""
    client.hset(contract_key("clusters"), cluster, json.dumps({"draining": draining}))


def results_by_cluster(client: redis.Redis, attempts: list[str], within: float = 30.0) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for attempt in attempts:
        record = wait_result(client, attempt, within=within)
        assert record["state"] == "SUCCEEDED", record
        out.setdefault(record["cluster"], []).append(attempt)
    return out


def pool_is_empty(client: redis.Redis, pool: str, within: float = 5.0) -> bool:
    """Nothing left in the pool's streams: every entry acked and deleted."""
    until = time.time() + within
    while time.time() < until:
        if sum(int(client.xlen(pool_queue(pool, shard=s))) for s in range(SHARDS)) == 0:
            return True
        time.sleep(0.02)
    return False


def test_cluster_and_pools_args_are_checked_and_default_to_the_default_ones() -> None:
    settings = Settings.from_args({"redis_url": "redis://x"})
    assert (settings.cluster, settings.pools) == ("default", ("default",))
    settings = Settings.from_args({"redis_url": "redis://x", "key_prefix": PREFIX, "cluster": "ray-2",
                                 "pools": ["gpu", "default"]})
    assert (settings.cluster, settings.pools) == ("ray-2", ("gpu", "default"))
    assert [pool for pool, _ in settings.streams()] == ["gpu"] * SHARDS + ["default"] * SHARDS
    assert settings.queue(3, "gpu") == contract_key("pool_queue", shard=3).replace("<pool>", "gpu")
    assert settings.queue(3) == settings.queue(3, "default") == contract_key("queue", shard=3)
    bads: list[dict[str, Any]] = [{"cluster": "Ray_1"}, {"cluster": "x" * 33}, {"cluster": ""}, {"pools": []},
                                  {"pools": "gpu"}, {"pools": ["gpu", "gpu"]}, {"pools": ["-gpu"]}, {"pools": [1]}]
    for bad in bads:
        with pytest.raises(ValueError, match=r"cluster|pool"):
            Settings.from_args({"redis_url": "redis://x", **bad})


def test_the_request_may_carry_its_pool(server: FakeModelServer) -> None:
    assert parse_request(json.dumps({**one_agent(server), "pool": "gpu"})).pool == "gpu"
    assert parse_request(json.dumps(one_agent(server))).pool == ""


def test_the_draining_flag_is_the_functions_json_and_anything_else_takes_work() -> None:
    assert is_draining(b'{"draining": true}') and is_draining('{"draining":true}')
    for value in (None, b'{"draining": false}', b"{}", b"true", b"not json", b'{"draining": "yes"}'):
        assert not is_draining(value), value


def test_a_pool_is_read_only_by_the_runners_serving_it_and_each_names_its_cluster(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p"))
    start_runner(redis_url, runners, cluster="ray-1", pools=("default",))
    enqueue(client, "delib-gpu", one_agent(server), pool="gpu")
    enqueue(client, "delib-cpu", one_agent(server))
    assert results_by_cluster(client, ["delib-cpu"]) == {"ray-1": ["delib-cpu"]}
    time.sleep(1.5)  # more than a read's block and a reclaim's pause (claim_idle_s / 3)
    gpu_queue = pool_queue("gpu", "delib-gpu")
    assert client.get(contract_key("result", "delib-gpu")) is None, "a runner not serving gpu left it alone"
    assert client.xlen(gpu_queue) == 1
    assert client.xinfo_groups(gpu_queue) == [], "nor made a group on it"
    assert text(client.hget(contract_key("attempt", "delib-gpu"), "state")) == "PENDING"
    start_runner(redis_url, runners, cluster="ray-2", pools=("gpu",))
    assert results_by_cluster(client, ["delib-gpu"]) == {"ray-2": ["delib-gpu"]}
    # The marker names the cluster that moved it to RUNNING, as the record does.
    assert text(client.hget(contract_key("attempt", "delib-gpu"), "cluster")) == "ray-2"
    assert text(client.hget(contract_key("attempt", "delib-cpu"), "cluster")) == "ray-1"
    assert [g["name"] for g in client.xinfo_groups(gpu_queue)] == [GROUP.encode()]
    assert pool_is_empty(client, "gpu") and queue_is_empty(client)


def test_two_clusters_share_a_burst(client: redis.Redis, runners: list[Runner], redis_url: str,
                                    server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p", delay=0.3))
    start_runner(redis_url, runners, cluster="ray-1", max_deliberations=6)
    start_runner(redis_url, runners, cluster="ray-2", max_deliberations=6)
    attempts = [f"delib-b{i}" for i in range(36)]
    for attempt in attempts:
        enqueue(client, attempt, one_agent(server))
    shares = results_by_cluster(client, attempts)
    assert sorted(shares) == ["ray-1", "ray-2"], f"each cluster takes some: {shares}"
    assert min(len(shares["ray-1"]), len(shares["ray-2"])) >= 6, {k: len(v) for k, v in shares.items()}
    assert len(server.agent_requests()) == len(attempts), "each ran once"
    assert queue_is_empty(client)


def test_a_draining_cluster_takes_nothing_new_and_finishes_what_it_holds(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer) -> None:
    server.set_model("slow", Behaviour(answer="p", delay=2.5))
    server.set_model("m1", Behaviour(answer="p", delay=0.1))
    draining = start_runner(redis_url, runners, cluster="ray-1")
    held = [f"delib-h{i}" for i in range(3)]
    for attempt in held:
        enqueue(client, attempt, one_agent(server, "slow"))
    until = time.time() + 5
    while len(draining.held) < 3 and time.time() < until:
        time.sleep(0.02)
    assert len(draining.held) == 3
    set_draining(client, "ray-1", True)
    set_draining(client, "ray-2", False)
    time.sleep(DRAIN_CHECK_S + 0.3)  # it reads the hash at most every second
    assert draining.cluster.draining
    later = [f"delib-n{i}" for i in range(10)]
    enqueue(client, later[0], one_agent(server))  # waits: no other cluster yet
    draining.queue_lag_at = 0.0  # the next stats() reads the lag again
    draining.stats()
    time.sleep(0.3)
    assert draining.stats()["runner_queue_lag"] == 0.0, "a draining cluster asks for no replicas for the queue"
    assert client.get(contract_key("result", later[0])) is None
    other = start_runner(redis_url, runners, cluster="ray-2")
    for attempt in later[1:]:
        enqueue(client, attempt, one_agent(server))
    assert results_by_cluster(client, later) == {"ray-2": later}, "the draining cluster took nothing new"
    # What it held it finished itself: its heartbeat kept the other cluster's runner off it.
    assert results_by_cluster(client, held) == {"ray-1": held}
    assert len(server.agent_requests()) == len(held) + len(later)
    # Undrained, it reads again: with the other cluster gone, it takes everything.
    other.stop()
    set_draining(client, "ray-1", False)
    again = [f"delib-a{i}" for i in range(4)]
    for attempt in again:
        enqueue(client, attempt, one_agent(server))
    assert results_by_cluster(client, again, within=10) == {"ray-1": again}
    assert queue_is_empty(client)


def test_a_killed_clusters_entries_are_claimed_by_the_other_and_each_runs_once(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer) -> None:
    server.set_model("slow", Behaviour(answer="p", delay=1.5))
    killed = start_runner(redis_url, runners, cluster="ray-1", pools=("default", "gpu"))
    attempts = [f"delib-k{i}" for i in range(6)]
    for i, attempt in enumerate(attempts):
        enqueue(client, attempt, one_agent(server, "slow"), pool="gpu" if i % 2 else "default")
    until = time.time() + 5
    while len(server.agent_requests()) < len(attempts) and time.time() < until:
        time.sleep(0.02)
    killed.stop()  # no drain, no hand-back: its entries stay pending as a dead cluster's would
    assert all(client.get(contract_key("result", a)) is None for a in attempts)
    taken = time.time()
    start_runner(redis_url, runners, cluster="ray-2", pools=("default", "gpu"))
    assert results_by_cluster(client, attempts, within=20) == {"ray-2": attempts}
    assert time.time() - taken >= 0.9, "claimed once idle for claim_idle_s"
    assert all(text(client.hget(contract_key("attempt", a), "cluster")) == "ray-2" for a in attempts)
    # The killed cluster comes back: it runs none of them again.
    records = {a: client.get(contract_key("result", a)) for a in attempts}
    calls = len(server.agent_requests())
    start_runner(redis_url, runners, cluster="ray-1", pools=("default", "gpu"))
    time.sleep(1.5)
    assert {a: client.get(contract_key("result", a)) for a in attempts} == records
    assert len(server.agent_requests()) == calls == 2 * len(attempts), "once cut short, once run to its end"
    assert pool_is_empty(client, "gpu") and queue_is_empty(client)
