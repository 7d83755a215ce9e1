"""Fixtures of the deliberation job's tests: the fake model server (the Go fake, built once per
session: fakemodel_client), a redis-server per test module (redis_url), the Ray head to run
the job on, and a runner that starts the job as a real Ray driver (`python deliberation_job.py`);
and the helpers the job's test modules share (make_request, request_of, agent, success, and
on_client and its wrappers, which run the async client's coroutines on a loop of their own); and
the runner's tests' (test_runner_*.py) fixtures and helpers: a Redis client (client), the Runners
a test starts, stopped after it (runners, start_runner), the Go side's enqueue, and waits on the
queue and its results.

The Ray head is found through RAY_TEST_GCS_ADDRESS (its GCS address, e.g. 127.0.0.1:6381, as
started by the Makefile). Without it, the tests that need Ray fail under CI=true and are skipped
otherwise; every other test runs anyway.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
import redis.cluster

JOB_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(JOB_DIR))

from agent import run_agent  # noqa: E402 - needs the path above
from fakemodel_client import FakeModelServer, FakeUnavailableError, build  # noqa: E402 - path above
from judge import Scoring, score_proposals  # noqa: E402 - needs the path above
from model_client import ModelClient, call_with_retries  # noqa: E402 - needs the path above
from model_keys import Keys  # noqa: E402 - needs the path above
from policy import canonical_origin  # noqa: E402 - needs the path above
from request import Agent, Request, parse_request  # noqa: E402 - needs the path above
from result import RESULT_PREFIX  # noqa: E402 - needs the path above
from runner_consumer import Runner  # noqa: E402 - needs the path above
from runner_queue import GROUP  # noqa: E402 - needs the path above
from runner_settings import Settings  # noqa: E402 - needs the path above

GCS_ADDRESS_ENV = "RAY_TEST_GCS_ADDRESS"
# Variables of the outer shell that would change what the job connects to or sends.
SCRUBBED_ENV = ("RAY_ADDRESS", "RAY_EXECUTOR_REQUEST", "RAY_EXECUTOR_DEADLINE_UNIX",
                "RAY_EXECUTOR_CALLBACK_URL", "RAY_EXECUTOR_ALLOWED_ORIGINS", "RAY_EXECUTOR_MAX_AGENTS",
                "RAY_EXECUTOR_MAX_ANSWER_BYTES", "RAY_EXECUTOR_MAX_TIMEOUT_S", "VLLM_API_KEY", "VLLM_API_KEYS",
                "VLLM_API_KEYS_FILE")


@pytest.fixture(scope="session")
def fake_model_binary() -> Path:
    """The fake model server, built once. Without Go it is skipped, but under CI=true it fails,
    as a failing build does everywhere."""
    try:
        return build()
    except FakeUnavailableError as err:
        if os.environ.get("CI") == "true":
            pytest.fail(str(err))
        pytest.skip(str(err))


@pytest.fixture
def server(fake_model_binary: Path) -> Iterator[FakeModelServer]:
    """A fresh fake per test: nothing one test set or sent reaches the next."""
    fake = FakeModelServer()
    yield fake
    fake.close()


@pytest.fixture
def other() -> Iterator[FakeModelServer]:
    """A second model server: where a redirect points, or a second origin, recording whatever
    reaches it."""
    fake = FakeModelServer()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def ray_gcs_address() -> str:
    address = os.environ.get(GCS_ADDRESS_ENV, "").strip()
    if address:
        return address
    message = (f"{GCS_ADDRESS_ENV} is not set: start a Ray head (ray start --head --port=6390 ...) "
               f"and export {GCS_ADDRESS_ENV}=127.0.0.1:6390 to run the job on Ray")
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def make_request(server_url: str, agents: list[dict[str, str]], **overrides: Any) -> dict[str, Any]:
    constraints = {"story_id": "story-1", "plan_id": "plan-1", "timeout_seconds": 60,
                   "max_retries": 1, "metadata": {"repo": "functions", "lang": "go"}}
    constraints.update(overrides.pop("constraints", {}))
    request = {
        "deliberation_id": "delib-" + "a" * 26,
        "task_id": "task-1",
        "task_description": "Add a retry to the Redis client.",
        "role": "DEV",
        "constraints": constraints,
        "agents": [{"prompt_template": "", **agent} for agent in agents],
        "vllm_url": server_url,
        "vllm_model": "judge-model",
    }
    request.update(overrides)
    return request


# Shared by the job's test modules: a template with the job's tokens and literal braces, a key the
# job must send but never print, and requests, agents and outcomes built in one line.
BRACES_TEMPLATE = 'Story {story_id}, task {task_id} as {role}:\n{task}\ndef f(): return {"a": 1}'
API_KEY = "sk-test-never-print-me"


def request_of(server_url: str = "http://127.0.0.1:9", **overrides: Any) -> Request:
    agents = overrides.pop("agents", [{"agent_id": "a1", "role": "DEV", "model": "m1"}])
    return parse_request(json.dumps(make_request(server_url, agents, **overrides)))


def agent(agent_id: str = "a1", role: str = "DEV", template: str = "") -> Agent:
    return Agent(agent_id, role, "m1", template)


T = TypeVar("T")


def on_client(use: Callable[[ModelClient], Awaitable[T]], client: ModelClient | None = None) -> T:
    """Runs use on a fresh event loop with a model client (a new one unless given), closed after."""

    async def run() -> T:
        used = client or ModelClient()
        try:
            return await use(used)
        finally:
            await used.close()

    return asyncio.run(run())


def keys_for(*servers: FakeModelServer, key: str = API_KEY) -> Keys:
    """The key bound to each server's origin (one key for all: a test of where a key goes uses
    load_keys with a key per origin)."""
    return Keys({canonical_origin(server.url): key for server in servers})


def agent_outcome(request: Request, one: Agent, until: float, keys: Keys | None = None,
                  **kwargs: Any) -> dict[str, Any]:
    return on_client(lambda client: run_agent(client, request, one, until, **kwargs), ModelClient(keys=keys))


def judge_scoring(request: Request, proposals: list[tuple[Agent, str]], until: float,
                  keys: Keys | None = None) -> Scoring:
    return on_client(lambda client: score_proposals(client, request, proposals, until), ModelClient(keys=keys))


def call(url: str, body: dict[str, Any], until: float, max_retries: int, api_key: str,
         **kwargs: Any) -> dict[str, Any]:
    return on_client(lambda client: call_with_retries(client, url, body, until, max_retries, api_key, **kwargs))


async def no_sleep(_: float) -> None:
    return None


def success(agent_id: str, proposal: str = "p") -> dict[str, Any]:
    return {"agent_id": agent_id, "ok": True, "proposal": proposal, "reasoning": "",
            "metadata": {"model": "m1", "tokens": "1", "duration_ms": "2"}}


@dataclass
class JobRun:
    returncode: int
    stdout: str
    stderr: str
    started: float
    ended: float
    deadline: float
    result_at: float | None
    result: dict[str, Any] | None = field(default=None)

    def output(self) -> str:
        return self.stdout + self.stderr


def run_job(request: dict[str, Any] | str, ray_address: str, deadline_in: float = 60.0,
            extra_env: dict[str, str] | None = None) -> JobRun:
    """Runs the job as Ray runs an entrypoint, timing when the result line appears."""
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
    started = time.time()
    deadline = started + deadline_in
    env.update({
        "RAY_ADDRESS": ray_address,
        "RAY_EXECUTOR_REQUEST": request if isinstance(request, str) else json.dumps(request),
        "RAY_EXECUTOR_DEADLINE_UNIX": repr(deadline),
        # The job's own list, as the functions set it; a test of the list sets its own.
        "RAY_EXECUTOR_ALLOWED_ORIGINS": "*",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra_env or {})
    proc = subprocess.Popen([sys.executable, "deliberation_job.py"], cwd=JOB_DIR, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout_lines: list[str] = []
    result_at: list[float] = []
    stderr_chunks: list[str] = []

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(RESULT_PREFIX):
                result_at.append(time.time())
            stdout_lines.append(line)

    def read_stderr() -> None:
        assert proc.stderr is not None
        stderr_chunks.append(proc.stderr.read())

    readers = [threading.Thread(target=read_stdout), threading.Thread(target=read_stderr)]
    for reader in readers:
        reader.start()
    try:
        returncode = proc.wait(timeout=deadline_in + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    finally:
        for reader in readers:
            reader.join(timeout=10)
    stdout = "".join(stdout_lines)
    return JobRun(returncode, stdout, "".join(stderr_chunks), started, time.time(), deadline,
                  result_at[-1] if result_at else None, last_result(stdout))


def last_result(stdout: str) -> dict[str, Any] | None:
    """The last line with the prefix, as the Go side reads it (worker output may interleave)."""
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    return json.loads(lines[-1][len(RESULT_PREFIX):]) if lines else None


# --- the runner's tests (test_runner_*.py): a Runner per test on the module's redis-server -------

PREFIX = "rt"  # the runner tests' key prefix
# The queue contract as the Go side reads it: the file itself, not the runner's reading of it.
CONTRACT_FILE = JOB_DIR / "contract" / "runner_queue.json"
CONTRACT: dict[str, Any] = json.loads(CONTRACT_FILE.read_text())


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
    # The runner's own list is "*" unless a test says otherwise: the fake is on 127.0.0.1.
    values: dict[str, Any] = {"claim_idle_s": 1.0, "heartbeat_s": 0.2, "allowed_origins": None, **overrides}
    settings = Settings(redis_url=redis_url, key_prefix=PREFIX, **values)
    runner = Runner(settings)
    runner.start()
    runners.append(runner)
    return runner


def enqueue(client: redis.Redis, attempt: str, request: dict[str, Any], deadline_in: float = 30.0,
            marker: bool = True, pool: str = "default") -> None:
    """What the Go side's enqueue does: the attempt's marker, then the stream entry, on its pool's
    stream in its shard."""
    if marker:
        client.hset(contract_key("attempt", attempt), mapping={"state": "PENDING"})
    client.xadd(pool_queue(pool, attempt), {"attempt": attempt, "request": json.dumps(request),
                                            "deadline": repr(time.time() + deadline_in), "callback": ""})


def wait_result(client: redis.Redis, attempt: str, within: float = 15.0) -> dict[str, Any]:
    until = time.time() + within
    while time.time() < until:
        raw = client.get(contract_key("result", attempt))
        if raw is not None:
            record: dict[str, Any] = json.loads(raw)
            return record
        time.sleep(0.02)
    raise AssertionError(f"no result for {attempt} within {within} s")


def queue_is_empty(client: redis.Redis, within: float = 5.0) -> bool:
    until = time.time() + within
    while time.time() < until:
        if sum(int(client.xlen(queue)) for queue in queues()) == 0 and pending_of(client) == 0:
            return True
        time.sleep(0.02)
    return False


SHARDS: int = CONTRACT["shards"]


def shard_of(attempt: str) -> int:
    """The shard of an attempt as the contract defines it (CRC-32 of its id), computed here."""
    return zlib.crc32(attempt.encode()) % SHARDS


def contract_key(name: str, attempt: str = "", shard: int | None = None, prefix: str = PREFIX) -> str:
    """A key of the contract, in shard or else in the attempt's own shard."""
    template: str = CONTRACT["keys"][name]
    number = shard_of(attempt) if shard is None else shard
    return template.replace("<prefix>", prefix).replace("<attempt>", attempt).replace("<shard>", f"{number:02d}")


def pool_queue(pool: str, attempt: str = "", shard: int | None = None) -> str:
    """A pool's stream, in shard or else in the attempt's own shard, as the contract spells it:
    the default pool's is "queue", any other's "pool_queue"."""
    if pool == CONTRACT["default_pool"]:
        return contract_key("queue", attempt, shard)
    return contract_key("pool_queue", attempt, shard).replace("<pool>", pool)


def queues() -> list[str]:
    """Every shard's stream."""
    return [contract_key("queue", shard=shard) for shard in range(SHARDS)]


def pending_of(client: redis.Redis) -> int:
    """Entries delivered and not acked, over every shard at one instant (one MULTI, so a run acked
    in one shard and one taken in another are never both counted); a shard without a group has
    none."""
    # A cluster has no MULTI across slots: there, shard by shard.
    pipe = client.pipeline(transaction=not isinstance(client, redis.cluster.RedisCluster))
    for queue in queues():
        pipe.xpending(queue, GROUP)
    answers = pipe.execute(raise_on_error=False)
    return sum(int(answer["pending"]) for answer in answers if isinstance(answer, dict))


def deliveries_of(client: redis.Redis) -> list[tuple[str, int, int]]:
    out = []
    for queue in queues():
        try:
            pending = client.xpending_range(queue, GROUP, "-", "+", 10)
        except redis.ResponseError:  # no group yet
            continue
        out += [(str(p["consumer"], "utf-8") if isinstance(p["consumer"], bytes) else str(p["consumer"]),
                 int(p["times_delivered"]), int(p["time_since_delivered"])) for p in pending]
    return out
