"""The runner's Redis by mode (runner_redis.py): the URL forms go-redis reads, the misfits refused
at start, and one attempt run end to end on a real Sentinel group (a primary, a replica, a
sentinel) and on a real 3-primary Redis Cluster, through the client redis_mode builds. Then the
runner through a Sentinel failover (runner_redis.py's retries, runner_consumer.py's NOGROUP): the
primary is SIGKILLed while an attempt runs; the runner stores that attempt's result on the new
primary and reads what is enqueued there; a stream the failover lost with its group is made
again."""

from __future__ import annotations

import functools
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import redis.cluster

import runner_redis
from conftest import PREFIX, contract_key, enqueue, free_port, make_request, queue_is_empty, wait_result
from fakemodel_client import Behaviour, FakeModelServer
from runner_consumer import Runner
from runner_settings import Settings


@pytest.mark.parametrize(("mode", "url", "want"), [
    ("standalone", "redis://u:p@h:1/3", runner_redis.RedisTarget("standalone", (("h", 1),), 3, "u", "p")),
    ("standalone", "rediss://h", runner_redis.RedisTarget("standalone", (("h", 6379),), ssl=True)),
    ("sentinel", "redis://su:sp@s1:26379/2?addr=s2:26380&addr=s3:26381&master_name=grp&username=du&password=dp",
     runner_redis.RedisTarget("sentinel", (("s1", 26379), ("s2", 26380), ("s3", 26381)), 2, "du", "dp",
                              master_name="grp", sentinel_auth={"username": "su", "password": "sp"})),
    ("sentinel", "redis://s1:1?master_name=grp&db=4",
     runner_redis.RedisTarget("sentinel", (("s1", 1),), 4, master_name="grp")),
    ("cluster", "redis://:pw@n1:7000?addr=n2:7001&addr=[::1]:7002",
     runner_redis.RedisTarget("cluster", (("n1", 7000), ("n2", 7001), ("::1", 7002)), 0, None, "pw")),
])
def test_parses_each_form(mode: str, url: str, want: runner_redis.RedisTarget) -> None:
    assert runner_redis.parse(mode, url) == want


@pytest.mark.parametrize(("mode", "url", "says"), [
    ("replicated", "redis://h:1", "redis_mode"),
    ("standalone", "http://h:1", "redis://"),
    ("standalone", "redis://h:1?addr=h2:2", "addr="),
    ("standalone", "redis://h:1/x", "database"),
    ("sentinel", "redis://s1:1?addr=s2:2", "master_name"),
    ("sentinel", "redis://s1:1?addr=s2&master_name=g", "host:port"),
    ("cluster", "redis://n1:1/3", "database"),
    ("cluster", "redis://n1:1?db=1", "database"),
    ("cluster", "redis://n1:1?master_name=g", "master_name"),
])
def test_refuses_misfits(mode: str, url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        runner_redis.parse(mode, url)


def test_settings_check_the_url_for_the_mode() -> None:
    assert Settings.from_args({"redis_url": "redis://h:1"}).redis_mode == "standalone"
    assert Settings.from_args({"redis_url": "redis://n:1", "redis_mode": "CLUSTER"}).redis_mode == "cluster"
    with pytest.raises(ValueError, match="master_name"):
        Settings.from_args({"redis_url": "redis://s:1", "redis_mode": "sentinel"})


def _redis_binary(name: str) -> str:
    binary = shutil.which(name)
    if binary is None:
        pytest.skip(f"{name} is not installed")
    return binary


def _spawn(procs: list[subprocess.Popen[bytes]], *args: str) -> None:
    procs.append(subprocess.Popen(list(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def _until(check: Any, within: float, what: str) -> None:
    until = time.time() + within
    while time.time() < until:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {within} s")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)


def _server(procs: list[subprocess.Popen[bytes]], port: int, *extra: str) -> None:
    # A directory of its own: a replica writes the primary's snapshot to its directory, which a
    # later server started there would load.
    _spawn(procs, _redis_binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", tempfile.mkdtemp(prefix="runner-redis-"), *extra)
    _until(redis.Redis(port=port).ping, 5, f"redis-server on {port}")


@pytest.fixture
def sentinel_url(processes: list[subprocess.Popen[bytes]], tmp_path: Path) -> str:
    primary, replica, sentinel = free_port(), free_port(), free_port()
    _server(processes, primary)
    _server(processes, replica, "--replicaof", "127.0.0.1", str(primary))
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {sentinel}\nbind 127.0.0.1\nsentinel monitor grp 127.0.0.1 {primary} 1\n"
                    "sentinel down-after-milliseconds grp 5000\n")
    _spawn(processes, _redis_binary("redis-server"), str(conf), "--sentinel")
    watcher = redis.Redis(port=sentinel)
    _until(lambda: watcher.sentinel_get_master_addr_by_name("grp"), 5, "the sentinel")
    return f"redis://127.0.0.1:{sentinel}?master_name=grp"


@pytest.fixture
def cluster_url(processes: list[subprocess.Popen[bytes]], tmp_path: Path) -> str:
    ports = [_bus_free_port() for _ in range(3)]
    for port in ports:
        _server(processes, port, "--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / f"{port}.conf"))
    subprocess.run([_redis_binary("redis-cli"), "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                    "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=30)
    for port in ports:
        _until(functools.partial(_cluster_ok, redis.Redis(port=port)), 15, f"cluster node {port}")
    return f"redis://127.0.0.1:{ports[0]}?addr=127.0.0.1:{ports[1]}&addr=127.0.0.1:{ports[2]}"


def _cluster_ok(node: redis.Redis) -> bool:
    info = node.cluster("info")
    return bool(info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == 3)


def _bus_free_port() -> int:
    # A cluster node also listens on its port + 10000 (the cluster bus), which must be a port too.
    while (port := free_port()) > 55535:
        pass
    return port


def _run_one_attempt(mode: str, url: str, client: redis.Redis, server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="use a ring buffer"))
    enqueue(client, "delib-shape", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
    runner = Runner(Settings(redis_url=url, redis_mode=mode, key_prefix=PREFIX,
                             allowed_origins=None, claim_idle_s=1.0, heartbeat_s=0.2))
    runner.start()
    try:
        record = wait_result(client, "delib-shape")
        assert record["state"] == "SUCCEEDED" and record["result"]["completed_agents"] == 1
        assert client.hget(contract_key("attempt", "delib-shape"), "state") == b"RUNNING"
        assert queue_is_empty(client), "stored and acked in one transaction, on one slot"
    finally:
        runner.stop()


def test_runs_an_attempt_on_sentinel(sentinel_url: str, server: FakeModelServer) -> None:
    [(host, port)] = runner_redis.parse("sentinel", sentinel_url).addrs
    watcher = redis.Redis(host=host, port=port, decode_responses=True)
    primary_host, primary_port = cast(tuple[str, str], watcher.sentinel_get_master_addr_by_name("grp"))
    client = redis.Redis(host=primary_host, port=int(primary_port))
    _run_one_attempt("sentinel", sentinel_url, client, server)


def test_runs_an_attempt_on_cluster(cluster_url: str, server: FakeModelServer) -> None:
    [(host, port), *_] = runner_redis.parse("cluster", cluster_url).addrs
    client = redis.cluster.RedisCluster(host=host, port=port)
    _run_one_attempt("cluster", cluster_url, cast(redis.Redis, client), server)


def test_stops_one_of_two_attempts_on_cluster(cluster_url: str, server: FakeModelServer) -> None:
    # The stopped check reads the held attempts' markers in one script per shard: its keys share
    # the shard's tag {runner:sNN}, so each call is one slot.
    [(host, port), *_] = runner_redis.parse("cluster", cluster_url).addrs
    client = cast(redis.Redis, redis.cluster.RedisCluster(host=host, port=port))
    server.set_model("slow", Behaviour(answer="p", delay=2.0))
    for attempt in ("delib-stop", "delib-keep"):
        enqueue(client, attempt, make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "slow"}]))
    runner = Runner(Settings(redis_url=cluster_url, redis_mode="cluster", key_prefix=PREFIX,
                             allowed_origins=None, claim_idle_s=1.0,
                             heartbeat_s=0.2))
    runner.start()
    try:
        _until(lambda: len(server.agent_requests()) >= 2, 10, "both attempts running")
        client.hset(contract_key("attempt", "delib-stop"), "state", "STOPPED")
        assert wait_result(client, "delib-keep")["state"] == "SUCCEEDED"
        assert queue_is_empty(client), "both entries acked: the stopped one without a result"
        assert client.get(contract_key("result", "delib-stop")) is None
    finally:
        runner.stop()


def _primary(sentinel_url: str) -> tuple[str, int]:
    [(host, port)] = runner_redis.parse("sentinel", sentinel_url).addrs
    watcher = redis.Redis(host=host, port=port, decode_responses=True)
    primary_host, primary_port = cast(tuple[str, str], watcher.sentinel_get_master_addr_by_name("grp"))
    return primary_host, int(primary_port)


def test_runner_survives_a_failover(sentinel_url: str, processes: list[subprocess.Popen[bytes]],
                                    server: FakeModelServer) -> None:
    host, port = _primary(sentinel_url)
    old = redis.Redis(host=host, port=port)
    server.set_model("slow", Behaviour(answer="waited", delay=3.0))
    server.set_model("m1", Behaviour(answer="after"))
    enqueue(old, "delib-during", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "slow"}]))
    # Every write so far is on the replica before the primary dies.
    assert old.wait(1, 5000) == 1
    runner = Runner(Settings(redis_url=sentinel_url, redis_mode="sentinel", key_prefix=PREFIX,
                             allowed_origins=None, claim_idle_s=30.0, heartbeat_s=0.2))
    runner.start()
    try:
        _until(lambda: len(server.agent_requests()) >= 1, 10, "the attempt running")
        _until(lambda: old.wait(1, 1000) == 1, 5, "its marker on the replica")
        processes[0].send_signal(signal.SIGKILL)  # the fixture's first server is the primary
        processes[0].wait(5)
        _until(lambda: _primary(sentinel_url) != (host, port), 30, "the failover")
        new = redis.Redis(*_primary(sentinel_url))
        # Its model answered during the failover: the result waits out the failover, on the new
        # primary, without another delivery (claim_idle_s is longer than the test).
        record = wait_result(new, "delib-during", within=30)
        assert record["state"] == "SUCCEEDED" and not record["infrastructure"]
        enqueue(new, "delib-after", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
        assert wait_result(new, "delib-after", within=20)["state"] == "SUCCEEDED"
        assert queue_is_empty(new), "both acked on the new primary"

        # A failover that lost the stream (and so its group): what is enqueued next makes a new
        # stream without the group, which the runner makes again and reads.
        new.delete(f"{PREFIX}:{{runner}}:queue")
        enqueue(new, "delib-regrouped", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
        assert wait_result(new, "delib-regrouped", within=20)["state"] == "SUCCEEDED"
        assert len(server.agent_requests()) == 3, "each attempt ran once"
    finally:
        runner.stop()
