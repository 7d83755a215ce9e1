"""The runner's queue contract against a real redis-server: runs, skips, takeovers, give-ups.

These tests drive Runner directly (no Serve): Serve only hosts it. The end-to-end tests on a Ray
head with Serve are the Go side's (shared/ray).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.client

from conftest import make_request
from deliberation_runner import GROUP, DeliberationRunner, Runner, Settings
from fakemodel_client import Behaviour, FakeModelServer
from queue_contract import ContractError, load

PREFIX = "rt"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def runners(redis_url: str) -> Iterator[list[Runner]]:
    started: list[Runner] = []
    yield started
    for runner in started:
        runner.stop()


def start_runner(redis_url: str, runners: list[Runner], **overrides: Any) -> Runner:
    values: dict[str, Any] = {"claim_idle_s": 1.0, "heartbeat_s": 0.2, **overrides}
    settings = Settings(redis_url=redis_url, key_prefix=PREFIX, **values)
    runner = Runner(settings)
    runner.start()
    runners.append(runner)
    return runner


def enqueue(client: redis.Redis, attempt: str, request: dict[str, Any], deadline_in: float = 30.0,
            marker: bool = True) -> None:
    """What the Go side's enqueue does: the attempt's marker, then the stream entry."""
    if marker:
        client.hset(f"{PREFIX}:runner:attempt:{attempt}", mapping={"state": "PENDING"})
    client.xadd(f"{PREFIX}:runner:queue", {"attempt": attempt, "request": json.dumps(request),
                                           "deadline": repr(time.time() + deadline_in), "callback": ""})


def wait_result(client: redis.Redis, attempt: str, within: float = 15.0) -> dict[str, Any]:
    until = time.time() + within
    while time.time() < until:
        raw = client.get(f"{PREFIX}:runner:result:{attempt}")
        if raw is not None:
            record: dict[str, Any] = json.loads(raw)
            return record
        time.sleep(0.02)
    raise AssertionError(f"no result for {attempt} within {within} s")


def queue_is_empty(client: redis.Redis, within: float = 5.0) -> bool:
    until = time.time() + within
    while time.time() < until:
        queue = f"{PREFIX}:runner:queue"
        if client.xlen(queue) == 0 and client.xpending(queue, GROUP)["pending"] == 0:
            return True
        time.sleep(0.02)
    return False


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
    assert client.hget(f"{PREFIX}:runner:attempt:delib-a", "state") == b"RUNNING"
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
    client.hset(f"{PREFIX}:runner:attempt:delib-stopped", mapping={"state": "STOPPED"})
    enqueue(client, "delib-stopped", make_request(server.url, agents), marker=False)
    client.set(f"{PREFIX}:runner:result:delib-done", "kept")
    enqueue(client, "delib-done", make_request(server.url, agents))
    start_runner(redis_url, runners)
    assert queue_is_empty(client)
    assert server.agent_requests() == [], "nothing ran"
    assert client.get(f"{PREFIX}:runner:result:delib-done") == b"kept"
    assert client.get(f"{PREFIX}:runner:result:delib-gone") is None


def test_a_dead_replicas_attempt_is_taken_over(client: redis.Redis, runners: list[Runner],
                                               redis_url: str, server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p"))
    client.xgroup_create(f"{PREFIX}:runner:queue", GROUP, id="0", mkstream=True)
    enqueue(client, "delib-t", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
    # A replica that read the entry and died: it stays pending under that consumer.
    client.xreadgroup(GROUP, "dead-replica", {f"{PREFIX}:runner:queue": ">"}, count=1)
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
    queue = f"{PREFIX}:runner:queue"
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


def test_a_stopped_attempt_is_cancelled_while_running(client: redis.Redis, runners: list[Runner],
                                                      redis_url: str, server: FakeModelServer) -> None:
    # One agent keeps failing transiently (so it keeps retrying), one is slow, one answers: without
    # the cancel the run would go on retrying and then call the judge.
    server.set_model("flaky", Behaviour(fail_status=503))
    server.set_model("slow", Behaviour(answer="p", delay=1.0))
    server.set_model("m1", Behaviour(answer="p"))
    enqueue(client, "delib-c", make_request(server.url, [
        {"agent_id": "a1", "role": "DEV", "model": "flaky"}, {"agent_id": "a2", "role": "QA", "model": "slow"},
        {"agent_id": "a3", "role": "ARCHITECT", "model": "m1"}], constraints={"max_retries": 10}))
    start_runner(redis_url, runners)
    until = time.time() + 10
    while len(server.agent_requests()) < 3 and time.time() < until:
        time.sleep(0.02)
    assert len(server.agent_requests()) >= 3, "the attempt runs"
    # What the functions' Stop does (runner_stop.lua): the marker becomes STOPPED.
    client.hset(f"{PREFIX}:runner:attempt:delib-c", "state", "STOPPED")
    assert queue_is_empty(client, within=3.0), "the cancelled run ends and its entry is acked"
    time.sleep(1.2)  # a call in flight when the cancel was seen may still end: let it settle
    settled = len(server.requests())
    time.sleep(3.0)  # longer than the retries' backoff: a retry would show here
    assert len(server.requests()) == settled, "no model call after the cancel settled"
    assert server.judge_requests() == [], "the judge is never asked"
    assert client.get(f"{PREFIX}:runner:result:delib-c") is None, "a cancelled attempt stores no result"
    assert client.hget(f"{PREFIX}:runner:attempt:delib-c", "state") == b"STOPPED"


def test_an_attempt_whose_marker_is_deleted_is_cancelled(client: redis.Redis, runners: list[Runner],
                                                         redis_url: str, server: FakeModelServer) -> None:
    # The functions stop, then delete the stopped attempt's keys: the run ends as for STOPPED.
    server.set_model("flaky", Behaviour(fail_status=503))
    enqueue(client, "delib-d", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "flaky"}],
                                            constraints={"max_retries": 10}))
    start_runner(redis_url, runners)
    until = time.time() + 10
    while not server.agent_requests() and time.time() < until:
        time.sleep(0.02)
    client.delete(f"{PREFIX}:runner:attempt:delib-d")
    assert queue_is_empty(client, within=3.0)
    time.sleep(0.5)
    settled = len(server.requests())
    time.sleep(3.0)
    assert len(server.requests()) == settled, "no model call after the cancel settled"
    assert client.get(f"{PREFIX}:runner:result:delib-d") is None


# The queue contract as the Go side reads it: the file itself, not the runner's reading of it.
CONTRACT_FILE = Path(__file__).resolve().parent / "contract" / "runner_queue.json"
CONTRACT: dict[str, Any] = json.loads(CONTRACT_FILE.read_text())


def contract_key(name: str, attempt: str = "") -> str:
    template: str = CONTRACT["keys"][name]
    return template.replace("<prefix>", PREFIX).replace("<attempt>", attempt)


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
    settings = Settings(redis_url=redis_url, key_prefix=PREFIX, claim_idle_s=1.0, heartbeat_s=0.2)
    pool = redis.asyncio.ConnectionPool.from_url(redis_url, protocol=2)
    failing = Runner(settings, FailingResultWrites(connection_pool=pool))
    failing.start()
    runners.append(failing)
    until = time.time() + 10
    while not (server.judge_requests() and not failing.held) and time.time() < until:
        time.sleep(0.02)
    failing.stop()
    assert server.judge_requests() and not failing.held, "the run ended"
    queue = f"{PREFIX}:runner:queue"
    assert client.get(f"{PREFIX}:runner:result:delib-s") is None
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
    runner = Runner(Settings(redis_url=redis_url, key_prefix=PREFIX, claim_idle_s=1.0, heartbeat_s=0.2),
                    recording)
    runner.start()
    runners.append(runner)
    wait_result(client, "delib-o")
    assert queue_is_empty(client)
    writes = [(multi, cmds) for multi, cmds in recording.events if "SET" in cmds or "XACK" in cmds]
    assert writes == [(True, ["SET", "XACK", "XDEL"])], "never acked without the result, nor apart from it"


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


def pending_of(client: redis.Redis) -> int:
    return int(client.xpending(f"{PREFIX}:runner:queue", GROUP)["pending"])


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
    assert client.xlen(f"{PREFIX}:runner:queue") == 5
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


def deliveries_of(client: redis.Redis) -> list[tuple[str, int, int]]:
    return [(str(p["consumer"], "utf-8") if isinstance(p["consumer"], bytes) else str(p["consumer"]),
             int(p["times_delivered"]), int(p["time_since_delivered"]))
            for p in client.xpending_range(f"{PREFIX}:runner:queue", GROUP, "-", "+", 10)]


def test_a_draining_replica_hands_back_what_it_cannot_finish(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer) -> None:
    server.set_model("slow", Behaviour(answer="p", delay=6.0))
    enqueue(client, "delib-h", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "slow"}]))
    settings = Settings(redis_url=redis_url, key_prefix=PREFIX, claim_idle_s=3.0, heartbeat_s=0.2, drain_s=0.5)
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
    assert client.get(f"{PREFIX}:runner:result:delib-h") is None
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
    replica = DeliberationRunner(Settings(redis_url=redis_url, key_prefix=PREFIX, claim_idle_s=3.0, heartbeat_s=0.2,
                                          drain_s=10.0))
    until = time.time() + 5
    while not server.agent_requests() and time.time() < until:
        time.sleep(0.02)
    enqueue(client, "delib-later", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}]))
    replica.__del__()
    assert wait_result(client, "delib-f", within=0.1)["state"] == "SUCCEEDED"
    assert pending_of(client) == 0, "nothing left held by the drained replica"
    # The later entry was either read by the last read and finished too, or never read.
    later = client.get(f"{PREFIX}:runner:result:delib-later")
    assert later is not None or client.xlen(f"{PREFIX}:runner:queue") == 1


def test_settings_defaults_are_sized_for_a_model_server_and_read_the_old_name() -> None:
    settings = Settings.from_args({"redis_url": "redis://x"})
    assert (settings.max_deliberations, settings.max_calls, settings.max_calls_per_origin, settings.drain_s) == (
        1000, 2048, 512, 20.0)
    assert Settings.from_args({"redis_url": "redis://x", "max_agent_calls": 300}).max_calls == 300
    with pytest.raises(ValueError, match="max_calls_per_origin"):
        Settings.from_args({"redis_url": "redis://x", "max_calls_per_origin": 0})
    with pytest.raises(ValueError, match="drain_s"):
        Settings.from_args({"redis_url": "redis://x", "drain_s": -1})
