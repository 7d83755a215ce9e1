"""What the runner agrees on with the Go side: the queue contract (every key, group, field and
state the runner uses on a real redis-server is the contract file's, and a file without a name it
needs is refused) and the settings Serve passes as args (defaults, checks, the old name)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import redis

from conftest import (
    CONTRACT,
    CONTRACT_FILE,
    PREFIX,
    contract_key,
    make_request,
    queue_is_empty,
    shard_of,
    start_runner,
    wait_result,
)
from fakemodel_client import Behaviour, FakeModelServer
from queue_contract import ContractError, load
from runner_consumer import Runner
from runner_settings import Settings


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_the_runner_keeps_the_queue_contract(client: redis.Redis, runners: list[Runner], redis_url: str,
                                             server: FakeModelServer) -> None:
    # Enqueued as the Go side does, every name from the contract file.
    server.set_model("m1", Behaviour(answer="p"))
    attempt = "delib-contract"
    entry = {"attempt": attempt, "request": json.dumps(make_request(
        server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}])),
        "deadline": repr(time.time() + 30), "callback": ""}
    assert sorted(entry) == sorted(CONTRACT["entry_fields"])
    assert "state" in CONTRACT["attempt_fields"] and "PENDING" in CONTRACT["attempt_states"]
    client.hset(contract_key("attempt", attempt), mapping={"state": "PENDING"})
    client.xadd(contract_key("queue", attempt), entry)  # type: ignore[arg-type]  # str fields are what Go writes
    start_runner(redis_url, runners)
    record = wait_result(client, attempt)  # read at the contract's result key, as in wait_result
    assert client.exists(contract_key("result", attempt))
    assert sorted(record) == sorted(CONTRACT["result_fields"])
    assert record["state"] in CONTRACT["result_states"]
    marker = {text(k): text(v) for k, v in client.hgetall(contract_key("attempt", attempt)).items()}
    assert set(marker) <= set(CONTRACT["attempt_fields"]) and marker["state"] in CONTRACT["attempt_states"]
    for shard in range(CONTRACT["shards"]):  # the runner reads every shard with the contract's group
        groups = client.xinfo_groups(contract_key("queue", shard=shard))
        assert [group["name"] for group in groups] == [CONTRACT["group"].encode()]
    assert queue_is_empty(client)
    # Every key the runner wrote or read is one of the contract's.
    patterns = [re.escape(t).replace(re.escape("<prefix>"), re.escape(PREFIX)).replace(
        re.escape("<attempt>"), ".+").replace(re.escape("<shard>"), "[0-9]{2}").replace(
        re.escape("<pool>"), "[a-z0-9-]+") for t in CONTRACT["keys"].values()]
    for key in client.scan_iter():
        assert any(re.fullmatch(p, text(key)) for p in patterns), f"{text(key)} is no key of the contract"


def test_an_attempts_shard_is_the_contracts() -> None:
    contract = load(CONTRACT_FILE)
    assert contract.shards == CONTRACT["shards"] >= 2
    assert CONTRACT["shard_examples"], "the contract gives examples, which the Go side checks too"
    for attempt, shard in CONTRACT["shard_examples"].items():
        assert contract.shard_of(attempt) == shard_of(attempt) == shard, attempt
        assert f"{{runner:s{shard:02d}}}" in contract.key("attempt", PREFIX, attempt)
    assert contract.key("queue", PREFIX, shard=3) == f"{PREFIX}:{{runner:s03}}:queue"
    # A pool's stream: the default pool keeps the stream of before pools, any other gets its own,
    # in the same shard's tag (the Go side's contract test checks the same spellings).
    assert CONTRACT["default_pool"] == contract.default_pool == "default"
    assert contract.queue_key(PREFIX, 3, "default") == f"{PREFIX}:{{runner:s03}}:queue"
    assert contract.queue_key(PREFIX, 3, "gpu-a") == f"{PREFIX}:{{runner:s03}}:queue:gpu-a"
    assert contract.key("clusters", PREFIX) == f"{PREFIX}:{{runner}}:clusters"


def test_a_queue_of_another_shard_count_is_refused(client: redis.Redis, redis_url: str) -> None:
    client.set(contract_key("layout"), CONTRACT["shards"] + 1)
    runner = Runner(Settings(redis_url=redis_url, key_prefix=PREFIX))
    with pytest.raises(RuntimeError, match="migrate-keys"):
        runner.start()
    runner.stop()
    assert client.keys(contract_key("queue", shard=0)) == [], "nothing read or created"


def test_the_runner_refuses_a_contract_without_its_names(tmp_path: Path) -> None:
    assert load(CONTRACT_FILE).group == CONTRACT["group"]
    broken = dict(CONTRACT, attempt_states=["PENDING", "RUNNING"])
    path = tmp_path / "runner_queue.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ContractError, match="attempt_states lacks STOPPED"):
        load(path)


def test_settings_defaults_are_sized_for_a_model_server_and_read_the_old_name() -> None:
    settings = Settings.from_args({"redis_url": "redis://x"})
    assert (settings.max_deliberations, settings.max_calls, settings.max_calls_per_origin, settings.drain_s) == (
        1000, 2048, 512, 20.0)
    assert Settings.from_args({"redis_url": "redis://x", "max_agent_calls": 300}).max_calls == 300
    with pytest.raises(ValueError, match="max_calls_per_origin"):
        Settings.from_args({"redis_url": "redis://x", "max_calls_per_origin": 0})
    with pytest.raises(ValueError, match="drain_s"):
        Settings.from_args({"redis_url": "redis://x", "drain_s": -1})
