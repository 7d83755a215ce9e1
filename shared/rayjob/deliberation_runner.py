"""Deliberation runner: a Ray Serve application that runs deliberations on warm workers.

The functions enqueue each attempt on a Redis Stream. Every replica of this deployment reads the
stream through one consumer group, runs the deliberation with the job's own code (its agents as
threads: their work is HTTP to the model server, so a process each would buy nothing), stores the
result where the functions read it, and sends the same finished wake-up as the job.

A replica that dies mid-deliberation leaves its message pending in the group; another replica
claims it once it has been idle for claim_idle_s. A running deliberation resets its message's idle
clock every heartbeat_s, so only a dead replica's work is taken over. After max_deliveries the
attempt is given up as an infrastructure failure, which the functions may retry as a new attempt.

The request is the job's, read by the job's own parse_request, so its policy holds here too: a
vllm_url outside the allowed origins is an unusable request, no redirect is followed, answers are
capped at max_answer_bytes and error messages are cleaned of control characters.

The group, keys, fields and states are the contract's (contract/runner_queue.json, read by
queue_contract.py and by the Go side alike); docs/ray.md describes them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import redis
from ray import serve
from ray.serve import Application
from redis.typing import StreamIdT

import queue_contract
from agent import agent_failure, run_agent
from deliberation import AgentRunner, Budget, Progress, agents_wait_until, plan_budget, run_deliberation
from judge import failed_scoring
from messages import log
from request import Agent, Request, RequestError, best_effort_agent_ids, best_effort_deliberation_id, parse_request
from result import EXIT_OK, build_result, exit_code, unusable_request_result
from wakeup import send_wakeup

CONTRACT = queue_contract.load()
GROUP = CONTRACT.group
STATE_PENDING, STATE_RUNNING, STATE_STOPPED = queue_contract.ATTEMPT_STATES
STATE_SUCCEEDED, STATE_FAILED = queue_contract.RESULT_STATES
STATE_FIELD, STARTED_AT_FIELD = queue_contract.ATTEMPT_FIELDS

# Moves an attempt from PENDING (or RUNNING, for a redelivery) to RUNNING. Anything else (no
# marker: deleted or expired; STOPPED: cancelled) means the attempt must not run. The names come
# as arguments, from the contract: ARGV = started_at, state field, started_at field, PENDING,
# RUNNING.
START_SCRIPT = """
local state = redis.call('HGET', KEYS[1], ARGV[2])
if state ~= ARGV[4] and state ~= ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[5])
redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class Settings:
    redis_url: str
    key_prefix: str = "rayexec"
    max_deliberations: int = 32  # per replica, at once
    max_agent_calls: int = 64  # per replica, at once
    claim_idle_s: float = 30.0
    heartbeat_s: float = 5.0
    max_deliveries: int = 3
    result_ttl_s: int = 86400

    @staticmethod
    def from_args(args: dict[str, Any]) -> Settings:
        if not args.get("redis_url"):
            raise ValueError("the runner needs redis_url")
        defaults = Settings(redis_url="")
        kinds = {"key_prefix": str, "max_deliberations": int, "max_agent_calls": int,
                 "claim_idle_s": float, "heartbeat_s": float, "max_deliveries": int,
                 "result_ttl_s": int}
        values = {key: kind(args.get(key, getattr(defaults, key))) for key, kind in kinds.items()}
        settings = Settings(redis_url=str(args["redis_url"]), **values)
        if min(settings.max_deliberations, settings.max_agent_calls, settings.max_deliveries) < 1:
            raise ValueError("max_deliberations, max_agent_calls and max_deliveries must be >= 1")
        if not 0 < settings.heartbeat_s < settings.claim_idle_s:
            raise ValueError("heartbeat_s must be positive and shorter than claim_idle_s")
        return settings

    def queue(self) -> str:
        return CONTRACT.key("queue", self.key_prefix)

    def attempt_key(self, attempt: str) -> str:
        return CONTRACT.key("attempt", self.key_prefix, attempt)

    def result_key(self, attempt: str) -> str:
        return CONTRACT.key("result", self.key_prefix, attempt)


@dataclass(frozen=True)
class Message:
    """One queued attempt, as the functions enqueue it."""
    entry_id: str
    attempt: str
    request: str  # the job's RAY_EXECUTOR_REQUEST
    deadline: float  # unix seconds
    callback: str

    @staticmethod
    def parse(entry_id: str, fields: dict[bytes, bytes]) -> Message:
        text = {k.decode(): v.decode() for k, v in fields.items()}
        attempt, request, deadline, callback = (text.get(name, "") for name in queue_contract.ENTRY_FIELDS)
        try:
            deadline_unix = float(deadline)
        except ValueError:
            deadline_unix = 0.0
        return Message(entry_id=entry_id, attempt=attempt, request=request, deadline=deadline_unix,
                       callback=callback)


def stream_entries(reply: object) -> list[tuple[str, dict[bytes, bytes]]]:
    """The (id, fields) entries of a stream reply (XREADGROUP's per stream, XAUTOCLAIM's second
    element) that still have fields: XAUTOCLAIM also returns entries deleted meanwhile, fieldless."""
    entries: list[tuple[str, dict[bytes, bytes]]] = []
    for item in reply if isinstance(reply, list) else []:
        if (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], bytes)
                and isinstance(item[1], dict) and item[1]):
            entries.append((item[0].decode(), item[1]))
    return entries


# How often a cancelled run notices it at the latest.
CANCEL_POLL_S = 0.5


def run_agents_in_threads(pool: ThreadPoolExecutor,
                          cancel: threading.Event | None = None) -> AgentRunner:
    """The runner's way of running agents: each one a call on the replica's bounded pool. A call
    stops on its own at agents_until, so one still running after the wait is reported pending.
    Once cancel is set the run stops waiting, and no agent starts a new call or retry (calls in
    flight end on their own)."""
    cancel = cancel or threading.Event()

    def run(request: Request, budget: Budget, progress: Progress) -> None:
        futures = {pool.submit(run_agent, request, agent, budget.agents_until, cancel.is_set): agent.agent_id
                   for agent in request.agents}
        pending = set(futures)
        wait_until = agents_wait_until(budget)
        while pending and not cancel.is_set():
            left = wait_until - time.time()
            if left <= 0:
                break
            done, pending = wait(pending, timeout=min(left, CANCEL_POLL_S), return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    progress.record(future.result())
                except Exception as err:  # noqa: BLE001 - a broken call is this agent's failure
                    progress.record(agent_failure(futures[future], f"agent call failed ({type(err).__name__})"))
        for future in pending:
            future.cancel()

    return run


def deliberate(message: Message, agent_pool: ThreadPoolExecutor,
               cancel: threading.Event | None = None) -> dict[str, Any] | None:
    """Runs one attempt like the job does and returns its result, by the deadline whatever
    blocks: the run goes on a thread of its own, and at print_by what is known is the result.
    A run cancelled meanwhile (cancel set) returns None within CANCEL_POLL_S: it has no result."""
    cancel = cancel or threading.Event()
    try:
        request = parse_request(message.request)
    except RequestError as err:
        return unusable_request_result(message.request, str(err))
    deadline = message.deadline or time.time() + request.timeout_seconds
    budget = plan_budget(time.time(), deadline)
    progress = Progress(request.agents)
    outcome = {"error": "deadline reached"}

    def run() -> None:
        try:
            run_deliberation(request, budget, progress, run_agents_in_threads(agent_pool, cancel),
                                 cancel.is_set)
        except Exception as err:  # noqa: BLE001 - the result must come out whatever broke
            outcome["error"] = f"runner error ({type(err).__name__})"
            log("error", f"deliberation failed: {err!r}", request.deliberation_id)

    worker = threading.Thread(target=run, daemon=True, name=f"deliberation-{message.attempt}")
    worker.start()
    while worker.is_alive() and not cancel.is_set():
        left = budget.print_by - time.time()
        if left <= 0:
            break
        worker.join(min(left, CANCEL_POLL_S))
    if cancel.is_set():
        return None
    return progress.result(outcome["error"])


def lost_result(message: Message, deliveries: int) -> dict[str, Any]:
    """Every agent fails with the reason: the attempt broke its replicas too often to try again."""
    why = f"the deliberation runner lost this attempt {deliveries} times"
    ids = best_effort_agent_ids(message.request) or [""]
    return build_result(tuple(Agent(agent_id, "", "") for agent_id in ids), {},
                            failed_scoring(""), why)


class Runner:
    """The consumer of one replica: reads, claims, heartbeats and runs attempts."""

    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self.settings = settings
        # RESP2: what every Redis 7.0 server and miniredis (make run's embedded Redis) answer alike.
        self.redis = client or redis.Redis.from_url(settings.redis_url, protocol=2)
        self.consumer = f"runner-{uuid.uuid4().hex[:12]}"
        self.start_attempt = self.redis.register_script(START_SCRIPT)
        self.slots = threading.BoundedSemaphore(settings.max_deliberations)
        self.deliberations = ThreadPoolExecutor(settings.max_deliberations, thread_name_prefix="deliberation")
        self.agents = ThreadPoolExecutor(settings.max_agent_calls, thread_name_prefix="agent")
        self.running: dict[str, str] = {}  # entry id -> attempt, for the heartbeat
        self.cancels: dict[str, threading.Event] = {}  # attempt -> set once it is STOPPED
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def ensure_group(self) -> None:
        # From id 0: whatever the functions enqueued before the first replica came is read too.
        try:
            self.redis.xgroup_create(self.settings.queue(), GROUP, id="0", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    def start(self) -> None:
        self.ensure_group()
        for target in (self.consume, self.reclaim, self.heartbeat, self.watch_stops):
            thread = threading.Thread(target=self.forever(target), daemon=True, name=target.__name__)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()

    def healthy(self) -> bool:
        return all(thread.is_alive() for thread in self.threads)

    def forever(self, step: Any) -> Any:
        """Runs step until stop; a Redis outage is waited out, never the end of the loop."""

        def loop() -> None:
            while not self.stopping.is_set():
                try:
                    step()
                except redis.RedisError as err:
                    log("warning", f"{step.__name__}: redis unavailable ({type(err).__name__})", "")
                    self.stopping.wait(1.0)

        return loop

    def consume(self) -> None:
        if not self.slots.acquire(timeout=1.0):
            return
        try:
            answer = self.redis.xreadgroup(GROUP, self.consumer, {self.settings.queue(): ">"}, count=1, block=1000)
        except BaseException:
            self.slots.release()
            raise
        streams = answer if isinstance(answer, list) else []
        entries = [entry for stream in streams for entry in stream_entries(stream[1])]
        if not entries:
            self.slots.release()
            return
        self.dispatch(Message.parse(*entries[0]), deliveries=1)

    def reclaim(self) -> None:
        """Takes over what a dead replica left: entries idle for longer than claim_idle_s."""
        self.stopping.wait(self.settings.claim_idle_s / 3)
        while not self.stopping.is_set() and self.slots.acquire(blocking=False):
            claimed = self.redis.xautoclaim(self.settings.queue(), GROUP, self.consumer,
                                            int(self.settings.claim_idle_s * 1000), "0-0", count=1)
            entries = stream_entries(claimed[1] if isinstance(claimed, list) else [])
            if not entries:
                self.slots.release()
                return
            entry, fields = entries[0]
            info = self.redis.xpending_range(self.settings.queue(), GROUP, entry, entry, 1)
            deliveries = int(info[0]["times_delivered"]) if info else 1
            log("warning", f"claimed {entry} after {deliveries - 1} lost deliveries", "")
            self.dispatch(Message.parse(entry, fields), deliveries)

    def heartbeat(self) -> None:
        """Resets the idle clock of every entry this replica is running (JUSTID: no delivery
        counted), so no other replica claims a deliberation that is merely long."""
        self.stopping.wait(self.settings.heartbeat_s)
        with self.lock:
            entries: list[StreamIdT] = list(self.running)
        if entries:
            self.redis.xclaim(self.settings.queue(), GROUP, self.consumer, 0, entries, justid=True)

    def watch_stops(self) -> None:
        """Every CANCEL_POLL_S, reads the markers of the attempts this replica runs: one the
        functions marked STOPPED (a cancel), or whose marker they deleted once it was stopped,
        has its run cancelled. A running attempt's marker is never deleted otherwise (the
        functions' delete refuses while it runs, and it expires only after the deadline)."""
        self.stopping.wait(CANCEL_POLL_S)
        with self.lock:
            watched = list(self.cancels.items())
        if not watched:
            return
        pipe = self.redis.pipeline(transaction=False)
        for attempt, _ in watched:
            pipe.hget(self.settings.attempt_key(attempt), STATE_FIELD)
        for (attempt, cancel), state in zip(watched, pipe.execute(), strict=True):
            if (state is None or state == STATE_STOPPED.encode()) and not cancel.is_set():
                log("info", f"attempt {attempt} stopped: cancelling its run", "")
                cancel.set()

    def dispatch(self, message: Message, deliveries: int) -> None:
        with self.lock:
            self.running[message.entry_id] = message.attempt
        self.deliberations.submit(self.handle, message, deliveries)

    def handle(self, message: Message, deliveries: int) -> None:
        try:
            self.process(message, deliveries)
        except Exception as err:  # noqa: BLE001 - the entry stays pending and is claimed again
            log("error", f"attempt {message.attempt} not processed: {err!r}", "")
        finally:
            with self.lock:
                self.running.pop(message.entry_id, None)
            self.slots.release()

    def process(self, message: Message, deliveries: int) -> None:
        settings = self.settings
        deliberation_id = best_effort_deliberation_id(message.request)
        attempt_key, result_key = settings.attempt_key(message.attempt), settings.result_key(message.attempt)
        started_ms = int(time.time() * 1000)
        if not message.attempt or self.redis.exists(result_key) or not self.start_attempt(
                keys=[attempt_key],
                args=[started_ms, STATE_FIELD, STARTED_AT_FIELD, STATE_PENDING, STATE_RUNNING]):
            # Finished elsewhere, stopped, or no longer wanted: running it again changes nothing.
            self.done(message)
            return
        infrastructure = deliveries > settings.max_deliveries
        result: dict[str, Any] | None
        if infrastructure:
            result = lost_result(message, deliveries - 1)
        else:
            cancel = threading.Event()
            with self.lock:
                self.cancels[message.attempt] = cancel
            try:
                result = deliberate(message, self.agents, cancel)
            finally:
                with self.lock:
                    self.cancels.pop(message.attempt, None)
            if result is None:
                # Cancelled: the functions recorded the outcome already; nothing is stored.
                self.done(message)
                return
        record = {
            "state": STATE_SUCCEEDED if exit_code(result) == EXIT_OK else STATE_FAILED,
            "infrastructure": infrastructure,
            "start_time": started_ms,
            "end_time": int(time.time() * 1000),
            "result": result,
        }
        stored = json.dumps(record, separators=(",", ":"), allow_nan=False)
        self.redis.set(result_key, stored, ex=settings.result_ttl_s, nx=True)
        self.done(message)
        send_wakeup(message.callback, deliberation_id)

    def done(self, message: Message) -> None:
        # Acked and deleted: the stream holds only what is still to do, so it never needs trimming.
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.settings.queue(), GROUP, message.entry_id)
        pipe.xdel(self.settings.queue(), message.entry_id)
        pipe.execute()


class DeliberationRunner:
    """The Serve deployment: one Runner per replica. Serve restarts a replica whose health check
    fails, and places and scales replicas across the cluster."""

    def __init__(self, settings: Settings) -> None:
        self.runner = Runner(settings)
        self.runner.start()

    def check_health(self) -> None:
        if not self.runner.healthy():
            raise RuntimeError("a runner loop has stopped")

    def __del__(self) -> None:
        self.runner.stop()


# Made a deployment by a call, not as a class decorator: the name stays the class's
# (DeliberationRunner), and the type checker sees the Deployment Serve binds.
RUNNER_DEPLOYMENT = serve.deployment(ray_actor_options={"num_cpus": 0})(DeliberationRunner)


def app(args: dict[str, Any]) -> Application:
    """The application builder Serve calls with the config's args."""
    return RUNNER_DEPLOYMENT.bind(Settings.from_args(args))

