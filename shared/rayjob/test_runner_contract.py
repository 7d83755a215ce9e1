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
    client.xadd(contract_key("queue"), entry)  # type: ignore[arg-type]  # str fields are what Go writes
    start_runner(redis_url, runners)
    record = wait_result(client, attempt)  # read at the contract's result key, as in wait_result
    assert client.exists(contract_key("result", attempt))
    assert sorted(record) == sorted(CONTRACT["result_fields"])
    assert record["state"] in CONTRACT["result_states"]
    marker = {text(k): text(v) for k, v in client.hgetall(contract_key("attempt", attempt)).items()}
    assert set(marker) <= set(CONTRACT["attempt_fields"]) and marker["state"] in CONTRACT["attempt_states"]
    groups = client.xinfo_groups(contract_key("queue"))
    assert [group["name"] for group in groups] == [CONTRACT["group"].encode()]
    assert queue_is_empty(client)
    # Every key the runner wrote or read is one of the contract's.
    patterns = [re.escape(t).replace(re.escape("<prefix>"), re.escape(PREFIX)).replace(
        re.escape("<attempt>"), ".+") for t in CONTRACT["keys"].values()]
    for key in client.scan_iter():
        assert any(re.fullmatch(p, text(key)) for p in patterns), f"{text(key)} is no key of the contract"


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
