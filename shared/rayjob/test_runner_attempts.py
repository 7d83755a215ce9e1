"""The runner's attempts against a real redis-server: what runs and what is skipped, the result
stored (state, failures, the byte cap, the origin policy), and stored and acked in one transaction
or not acked at all. These tests drive Runner directly (no Serve): Serve only hosts it; the
end-to-end tests on a Ray head with Serve are the Go side's (shared/runnerqueue)."""

from __future__ import annotations

import time
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.client

from conftest import PREFIX, contract_key, enqueue, make_request, queue_is_empty, start_runner, wait_result
from fakemodel_client import Behaviour, FakeModelServer
from runner_consumer import Runner
from runner_queue import GROUP
from runner_settings import Settings


def test_runs_an_attempt_and_stores_the_result(client: redis.Redis, runners: list[Runner],
                                               redis_url: str, server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="use a ring buffer"))
    server.set_model("m2", Behaviour(fail_status=400))
    enqueue(client, "delib-a", make_request(server.url, [
        {"agent_id": "a1", "role": "DEV", "model": "m1"}, {"agent_id": "a2", "role": "QA", "model": "m2"}]))
    start_runner(redis_url, runners)
    record = wait_result(client, "delib-a")
    assert record["state"] == "SUCCEEDED" and record["infrastructure"] is False
    assert record["start_time"] <= record["end_time"]
    result = record["result"]
    assert (result["total_agents"], result["completed_agents"], result["failed_agents"]) == (2, 1, 1)
    assert result["best_result"]["agent_id"] == "a1"
    assert "400" in result["failures"][0]["error"]
    assert len(server.judge_requests()) == 1
    assert client.hget(contract_key("attempt", "delib-a"), "state") == b"RUNNING"
    assert queue_is_empty(client), "the entry is acked and deleted once the result is stored"


def test_no_proposal_is_a_failed_attempt(client: redis.Redis, runners: list[Runner], redis_url: str,
                                         server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(fail_status=401))
    enqueue(client, "delib-f", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
    start_runner(redis_url, runners)
    record = wait_result(client, "delib-f")
    assert record["state"] == "FAILED" and record["result"]["completed_agents"] == 0


def test_skips_what_must_not_run(client: redis.Redis, runners: list[Runner], redis_url: str,
                                 server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p"))
    agents = [{"agent_id": "a1", "role": "DEV", "model": "m1"}]
    enqueue(client, "delib-gone", make_request(server.url, agents), marker=False)
    client.hset(contract_key("attempt", "delib-stopped"), mapping={"state": "STOPPED"})
    enqueue(client, "delib-stopped", make_request(server.url, agents), marker=False)
    client.set(contract_key("result", "delib-done"), "kept")
    enqueue(client, "delib-done", make_request(server.url, agents))
    start_runner(redis_url, runners)
    assert queue_is_empty(client)
    assert server.agent_requests() == [], "nothing ran"
    assert client.get(contract_key("result", "delib-done")) == b"kept"
    assert client.get(contract_key("result", "delib-gone")) is None


def test_an_origin_outside_the_policy_is_a_failed_attempt_without_a_call(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer) -> None:
    enqueue(client, "delib-p", make_request(
        server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}],
        policy={"allowed_origins": ["https://api.example.com:443"], "max_answer_bytes": 65536}))
    start_runner(redis_url, runners)
    record = wait_result(client, "delib-p")
    assert record["state"] == "FAILED"
    assert record["result"]["failures"] == [{"agent_id": "a1", "error": (
        f"unusable request: vllm_url {server.url} is not in the allowed origins")}]
    assert server.requests() == []


def test_the_runner_caps_answers_in_bytes(client: redis.Redis, runners: list[Runner], redis_url: str,
                                          server: FakeModelServer) -> None:
    answer = "\u20ac" * 400  # 400 characters under a 1,000-byte cap, 1,200 bytes of UTF-8
    server.set_model("m1", Behaviour(answer=answer))
    enqueue(client, "delib-b", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}],
                                            policy={"max_answer_bytes": 1000}))
    start_runner(redis_url, runners)
    best = wait_result(client, "delib-b")["result"]["best_result"]
    assert len(best["proposal"].encode()) <= 1000 and best["proposal"] != answer
    assert best["proposal"].startswith("\u20ac" * 100)
    assert best["metadata"]["truncated"] == "true"


def commands(pipe: redis.asyncio.client.Pipeline) -> list[str]:
    return [str(args[0]).upper() for args, _ in pipe.command_stack]


class FailingResultPipeline(redis.asyncio.client.Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if "SET" in commands(self):
            raise redis.ConnectionError("injected: the result write failed")
        return await super().execute(raise_on_error)


class FailingResultWrites(redis.asyncio.Redis):
    """A client whose result write fails (the runner writes SET only for results): Redis went
    away between the run and its store."""

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> redis.asyncio.client.Pipeline:
        return FailingResultPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


def test_an_attempt_whose_result_is_not_stored_stays_pending_for_another_replica(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p"))
    enqueue(client, "delib-s", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
    settings = Settings(redis_url=redis_url, key_prefix=PREFIX, allowed_origins=None, claim_idle_s=1.0, heartbeat_s=0.2)
    pool = redis.asyncio.ConnectionPool.from_url(redis_url, protocol=2)
    failing = Runner(settings, FailingResultWrites(connection_pool=pool))
    failing.start()
    runners.append(failing)
    until = time.time() + 10
    while not (server.judge_requests() and not failing.held) and time.time() < until:
        time.sleep(0.02)
    failing.stop()
    assert server.judge_requests() and not failing.held, "the run ended"
    queue = contract_key("queue", "delib-s")
    assert client.get(contract_key("result", "delib-s")) is None
    assert client.xpending(queue, GROUP)["pending"] == 1, "not stored, so not acked"
    start_runner(redis_url, runners)
    record = wait_result(client, "delib-s")
    assert record["state"] == "SUCCEEDED"
    assert queue_is_empty(client)


class RecordingPipeline(redis.asyncio.client.Pipeline):
    events: list[tuple[bool, list[str]]]

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        self.events.append((self.is_transaction, commands(self)))
        return await super().execute(raise_on_error)


class RecordingClient(redis.asyncio.Redis):
    """Records every pipeline the runner sends: whether it is a MULTI, and its commands."""

    events: list[tuple[bool, list[str]]]

    async def set(self, *args: Any, **kwargs: Any) -> Any:
        if args and args[0] != contract_key("layout"):  # the layout check at start writes no result
            self.events.append((False, ["SET"]))
        return await super().set(*args, **kwargs)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> redis.asyncio.client.Pipeline:
        pipe = RecordingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.events = self.events
        return pipe


def test_the_result_is_stored_and_the_entry_acked_in_one_transaction(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p"))
    enqueue(client, "delib-o", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
    recording = RecordingClient(connection_pool=redis.asyncio.ConnectionPool.from_url(redis_url, protocol=2))
    recording.events = []
    runner = Runner(Settings(redis_url=redis_url, key_prefix=PREFIX,
                             allowed_origins=None, claim_idle_s=1.0, heartbeat_s=0.2),
                    recording)
    runner.start()
    runners.append(runner)
    wait_result(client, "delib-o")
    assert queue_is_empty(client)
    writes = [(multi, cmds) for multi, cmds in recording.events if "SET" in cmds or "XACK" in cmds]
    assert writes == [(True, ["SET", "XACK", "XDEL"])], "never acked without the result, nor apart from it"
