"""Deliberation runner: a Ray Serve application that runs deliberations on warm workers.

The functions enqueue each attempt on a Redis Stream. Every replica of this deployment reads the
stream through one consumer group, runs the deliberation with the job's own code, stores the
result where the functions read it, and sends the same finished wake-up as the job.

A replica runs everything on one asyncio event loop of its own (a thread started with the
replica, apart from Serve's loop): each deliberation a task, each agent call a coroutine of one
aiohttp session, bounded per replica (max_deliberations, max_calls) and per model-server origin
(max_calls_per_origin). It reads as many entries as it has free deliberation slots, and nothing
when it has none, so other replicas get the work.

A replica that dies mid-deliberation leaves its message pending in the group; another replica
claims it once it has been idle for claim_idle_s. A running deliberation resets its message's idle
clock every heartbeat_s, so only a dead replica's work is taken over. After max_deliveries the
attempt is given up as an infrastructure failure, which the functions may retry as a new attempt.
A replica Serve stops (scale-down, shutdown) drains: it stops reading, lets what it holds finish
for up to drain_s, then hands the rest back (idle at once, so another replica claims it at once).

The request is the job's, read by the job's own parse_request, so its policy holds here too: a
vllm_url outside the allowed origins is an unusable request, no redirect is followed, answers are
capped at max_answer_bytes and error messages are cleaned of control characters.

The group, keys, fields and states are the contract's (contract/runner_queue.json, read by
queue_contract.py and by the Go side alike); docs/ray.md describes them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import redis
import redis.asyncio
import redis.asyncio.client
from ray import serve
from ray.serve import Application
from redis.typing import StreamIdT

import queue_contract
from deliberation import Progress, plan_budget, run_deliberation
from judge import failed_scoring
from messages import log
from model_client import DEFAULT_MAX_CALLS, DEFAULT_MAX_CALLS_PER_ORIGIN, ModelClient
from request import Agent, RequestError, best_effort_agent_ids, best_effort_deliberation_id, parse_request
from result import EXIT_OK, build_result, exit_code, unusable_request_result
from wakeup import send_wakeup_async

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

# Which of the attempts a replica runs are stopped (marker STOPPED) or gone (deleted): the indices
# (from 1) of KEYS. One call for all of them, answering only the few that stopped, instead of a
# reply per attempt to parse every CANCEL_POLL_S. ARGV = state field, STOPPED.
STOPPED_SCRIPT = """
local stopped = {}
for i, key in ipairs(KEYS) do
  local state = redis.call('HGET', key, ARGV[1])
  if not state or state == ARGV[2] then stopped[#stopped + 1] = i end
end
return stopped
"""

# The most entries one read or claim takes, however many slots are free.
READ_BATCH = 256
READ_BLOCK_MS = 1000
# How often a cancelled run notices it at the latest.
CANCEL_POLL_S = 0.5
# The event-loop lag probe: a sleep this long, its overshoot kept for the last LAG_WINDOW probes.
LAG_PROBE_S = 0.05
LAG_WINDOW = 1200
LAG_EVERY = 20  # probes between two p99s: about a second
QUEUE_LAG_EVERY_S = 1.0
STOP_TIMEOUT_S = 10.0
# Allocations between two collections of the youngest generation in a replica (Python's: 700).
GC_GEN0 = 20_000
# Connections of a replica to Redis, and how long a command waits for one.
REDIS_CONNECTIONS = 64
REDIS_WAIT_S = 20.0


@dataclass(frozen=True)
class Settings:
    redis_url: str
    key_prefix: str = "rayexec"
    max_deliberations: int = 1000  # per replica, at once
    max_calls: int = DEFAULT_MAX_CALLS  # model calls on the wire per replica
    max_calls_per_origin: int = DEFAULT_MAX_CALLS_PER_ORIGIN  # of them to one model server
    claim_idle_s: float = 30.0
    heartbeat_s: float = 5.0
    max_deliveries: int = 3
    result_ttl_s: int = 86400
    drain_s: float = 20.0  # how long a stopping replica lets its deliberations finish

    @staticmethod
    def from_args(args: dict[str, Any]) -> Settings:
        if not args.get("redis_url"):
            raise ValueError("the runner needs redis_url")
        args = dict(args)
        if "max_agent_calls" in args:  # its name before the event loop
            args.setdefault("max_calls", args.pop("max_agent_calls"))
        defaults = Settings(redis_url="")
        kinds = {"key_prefix": str, "max_deliberations": int, "max_calls": int, "max_calls_per_origin": int,
                 "claim_idle_s": float, "heartbeat_s": float, "max_deliveries": int,
                 "result_ttl_s": int, "drain_s": float}
        values = {key: kind(args.get(key, getattr(defaults, key))) for key, kind in kinds.items()}
        settings = Settings(redis_url=str(args["redis_url"]), **values)
        if min(settings.max_deliberations, settings.max_calls, settings.max_calls_per_origin,
               settings.max_deliveries) < 1:
            raise ValueError("max_deliberations, max_calls, max_calls_per_origin and max_deliveries must be >= 1")
        if not 0 < settings.heartbeat_s < settings.claim_idle_s:
            raise ValueError("heartbeat_s must be positive and shorter than claim_idle_s")
        if settings.drain_s < 0:
            raise ValueError("drain_s must be >= 0")
        return settings

    def queue(self) -> str:
        return CONTRACT.key("queue", self.key_prefix)

    def attempt_key(self, attempt: str) -> str:
        return CONTRACT.key("attempt", self.key_prefix, attempt)

    def result_key(self, attempt: str) -> str:
        return CONTRACT.key("result", self.key_prefix, attempt)

    def replicas_key(self) -> str:
        return CONTRACT.key("replicas", self.key_prefix)


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


async def deliberate(client: ModelClient, message: Message, cancel: asyncio.Event) -> dict[str, Any] | None:
    """Runs one attempt like the job does and returns its result, by the deadline whatever
    blocks: at print_by what is known is the result. A run cancelled meanwhile (cancel set)
    returns None at once, its calls cancelled: it has no result."""
    try:
        request = parse_request(message.request)
    except RequestError as err:
        return unusable_request_result(message.request, str(err))
    deadline = message.deadline or time.time() + request.timeout_seconds
    budget = plan_budget(time.time(), deadline)
    progress = Progress(request.agents)
    run = asyncio.ensure_future(run_deliberation(client, request, budget, progress, cancelled=cancel.is_set))
    stopped = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({run, stopped}, timeout=max(0.0, budget.print_by - time.time()),
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        run.cancel()
    if cancel.is_set():
        return None
    error = "deadline reached"
    if run.done() and not run.cancelled() and run.exception() is not None:
        error = f"runner error ({type(run.exception()).__name__})"
        log("error", f"deliberation failed: {run.exception()!r}", request.deliberation_id)
    return progress.result(error)


def lost_result(message: Message, deliveries: int) -> dict[str, Any]:
    """Every agent fails with the reason: the attempt broke its replicas too often to try again."""
    why = f"the deliberation runner lost this attempt {deliveries} times"
    ids = best_effort_agent_ids(message.request) or [""]
    return build_result(tuple(Agent(agent_id, "", "") for agent_id in ids), {},
                        failed_scoring(""), why)


@dataclass
class Held:
    """An entry this replica holds: its attempt, its run, and the run's cancel."""
    attempt: str
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    running: bool = False  # past the start script: its marker is watched for a stop
    task: asyncio.Task[None] | None = None


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Serve's uvicorn[standard] brings it): the same loop for a
    fraction of the CPU per callback, which is what a replica with thousands of calls spends."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def p99(samples: collections.deque[float]) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


class Runner:
    """The consumer of one replica: reads, claims, heartbeats and runs attempts on its own event
    loop, on a thread of its own."""

    def __init__(self, settings: Settings, client: redis.asyncio.Redis | None = None) -> None:
        self.settings = settings
        # RESP2: what every Redis 7.0 server and miniredis (make run's embedded Redis) answer alike.
        # A bounded pool that waits for a free connection: a thousand deliberations share a few
        # dozen connections instead of failing once the pool's limit is reached.
        self.redis = client or redis.asyncio.Redis(connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
            settings.redis_url, protocol=2, max_connections=REDIS_CONNECTIONS, timeout=REDIS_WAIT_S))
        self.consumer = f"runner-{uuid.uuid4().hex[:12]}"
        self.held: dict[str, Held] = {}  # entry id -> what runs it
        self.reading = True
        self.lags: collections.deque[float] = collections.deque(maxlen=LAG_WINDOW)
        self.lag_p99_ms = 0.0  # of self.lags, computed on the loop: other threads read only this
        self.probes = 0
        self.queue_lag = 0
        self.queue_lag_at = 0.0
        self.loop = new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="runner-loop")
        self.loops: list[asyncio.Task[None]] = []
        self.model: ModelClient | None = None
        self.wakeups: aiohttp.ClientSession | None = None
        self.slot_freed: asyncio.Event | None = None
        self.read_stopped: asyncio.Event | None = None
        self.closed = False

    # --- life cycle, called from other threads -------------------------------------------------

    def start(self) -> None:
        self.thread.start()
        self.call(self.open())

    def call(self, coro: Any, timeout: float | None = STOP_TIMEOUT_S) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """A stop without drain: runs are cancelled and their entries left pending, claimed by
        another replica after claim_idle_s as a dead replica's would be."""
        self.shut_down(self.close(drain_s=None))

    def drain(self) -> None:
        """Serve's stop: finish what is held for up to drain_s, hand back the rest."""
        self.shut_down(self.close(drain_s=self.settings.drain_s), self.settings.drain_s + STOP_TIMEOUT_S)

    def shut_down(self, coro: Any, timeout: float = STOP_TIMEOUT_S) -> None:
        if self.closed or not self.thread.is_alive():
            coro.close()
            return
        try:
            self.call(coro, timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(STOP_TIMEOUT_S)

    def healthy(self) -> bool:
        return self.thread.is_alive() and bool(self.loops) and not any(task.done() for task in self.loops)

    def stats(self) -> dict[str, float]:
        """What the autoscaling policy reads (record_autoscaling_stats): the names are its."""
        if time.monotonic() - self.queue_lag_at >= QUEUE_LAG_EVERY_S and self.thread.is_alive():
            self.queue_lag_at = time.monotonic()
            asyncio.run_coroutine_threadsafe(self.read_queue_lag(), self.loop)
        return {"runner_in_flight": float(len(self.held)), "runner_queue_lag": float(self.queue_lag),
                "runner_capacity": float(self.settings.max_deliberations),
                "runner_loop_lag_p99_ms": self.lag_p99_ms}

    # --- on the loop ------------------------------------------------------------------------------

    async def open(self) -> None:
        self.model = ModelClient(self.settings.max_calls, self.settings.max_calls_per_origin)
        self.wakeups = aiohttp.ClientSession(trust_env=False)
        self.slot_freed = asyncio.Event()
        self.read_stopped = asyncio.Event()
        await self.ensure_group()
        self.loops = [asyncio.ensure_future(self.forever(step)) for step in
                      (self.consume, self.reclaim, self.heartbeat, self.watch_stops, self.watch_lag)]

    async def close(self, drain_s: float | None) -> None:
        self.reading = False
        if self.read_stopped is not None and self.loops and not self.loops[0].done():
            # The read in progress ends within READ_BLOCK_MS; what it brings is held, not lost.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.read_stopped.wait(), READ_BLOCK_MS / 1000 + 1)
        for task in self.loops:
            task.cancel()
        if drain_s is not None:
            await self.finish_or_hand_back(drain_s)
        for held in list(self.held.values()):
            if held.task is not None:
                held.task.cancel()
        with contextlib.suppress(redis.RedisError, OSError):
            await self.redis.hdel(self.settings.replicas_key(), self.consumer)
        if self.model is not None:
            await self.model.close()
        if self.wakeups is not None:
            await self.wakeups.close()
        with contextlib.suppress(redis.RedisError, OSError):
            await self.redis.aclose()
        self.closed = True

    async def finish_or_hand_back(self, drain_s: float) -> None:
        tasks = [held.task for held in self.held.values() if held.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=drain_s)
        left = dict(self.held)
        if not left:
            return
        for held in left.values():
            if held.task is not None:
                held.task.cancel()
        await asyncio.gather(*(held.task for held in left.values() if held.task is not None),
                             return_exceptions=True)
        # Idle as long as a dead replica's entry: the next reclaim of any replica takes it at once.
        # JUSTID: the hand-back itself counts no delivery.
        entries: list[StreamIdT] = list(left)
        try:
            await self.redis.xclaim(self.settings.queue(), GROUP, self.consumer, 0, entries,
                                    idle=int(self.settings.claim_idle_s * 1000), justid=True)
            log("info", f"drained: handed back {len(entries)} attempts", "")
        except redis.RedisError as err:
            log("warning", f"hand-back failed ({type(err).__name__}): claimed after claim_idle_s", "")

    async def forever(self, step: Any) -> None:
        """Runs step until cancelled; a Redis outage is waited out, never the end of the loop."""
        while True:
            try:
                await step()
            except (redis.RedisError, OSError) as err:
                log("warning", f"{step.__name__}: redis unavailable ({type(err).__name__})", "")
                await asyncio.sleep(1.0)

    async def ensure_group(self) -> None:
        # From id 0: whatever the functions enqueued before the first replica came is read too.
        try:
            await self.redis.xgroup_create(self.settings.queue(), GROUP, id="0", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    def free_slots(self) -> int:
        return self.settings.max_deliberations - len(self.held)

    async def consume(self) -> None:
        """Reads as many entries as there are free slots (at most READ_BATCH); none when full."""
        assert self.slot_freed is not None
        if not self.reading:
            assert self.read_stopped is not None
            self.read_stopped.set()
            await asyncio.Event().wait()  # closing: this loop is cancelled
        free = self.free_slots()
        if free <= 0:
            self.slot_freed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.slot_freed.wait(), 1.0)
            return
        answer = await self.redis.xreadgroup(GROUP, self.consumer, {self.settings.queue(): ">"},
                                             count=min(free, READ_BATCH), block=READ_BLOCK_MS)
        streams = answer if isinstance(answer, list) else []
        for stream in streams:
            for entry in stream_entries(stream[1]):
                self.dispatch(Message.parse(*entry), deliveries=1)

    async def reclaim(self) -> None:
        """Takes over what a dead replica left (or a draining one handed back): entries idle for
        longer than claim_idle_s, as many as there are free slots."""
        await asyncio.sleep(self.settings.claim_idle_s / 3)
        cursor: StreamIdT = "0-0"
        while self.reading and self.free_slots() > 0:
            claimed = await self.redis.xautoclaim(self.settings.queue(), GROUP, self.consumer,
                                                  int(self.settings.claim_idle_s * 1000), cursor,
                                                  count=min(self.free_slots(), READ_BATCH))
            if not isinstance(claimed, list) or len(claimed) < 2:
                return
            cursor = claimed[0]
            entries = stream_entries(claimed[1])
            if entries:
                pipe = self.redis.pipeline(transaction=False)
                for entry, _ in entries:
                    pipe.xpending_range(self.settings.queue(), GROUP, entry, entry, 1)
                for (entry, fields), info in zip(entries, await pipe.execute(), strict=True):
                    deliveries = int(info[0]["times_delivered"]) if info else 1
                    log("warning", f"claimed {entry} after {deliveries - 1} lost deliveries", "")
                    self.dispatch(Message.parse(entry, fields), deliveries)
            if cursor in (b"0-0", "0-0"):
                return

    async def heartbeat(self) -> None:
        """Resets the idle clock of every entry this replica holds (JUSTID: no delivery counted),
        so no other replica claims a deliberation that is merely long; and writes this replica's
        figures to the replicas hash."""
        await asyncio.sleep(self.settings.heartbeat_s)
        entries: list[StreamIdT] = list(self.held)
        pipe = self.redis.pipeline(transaction=False)
        if entries:
            pipe.xclaim(self.settings.queue(), GROUP, self.consumer, 0, entries, justid=True)
        pipe.hset(self.settings.replicas_key(), self.consumer, json.dumps(self.replica_figures()))
        await pipe.execute()

    def replica_figures(self) -> dict[str, Any]:
        return {"in_flight": len(self.held), "peak_calls": self.model.peak_in_flight if self.model else 0,
                "loop_lag_p99_ms": round(self.lag_p99_ms, 1), "updated_ms": int(time.time() * 1000)}

    async def watch_stops(self) -> None:
        """Every CANCEL_POLL_S, reads the markers of the attempts this replica runs: one the
        functions marked STOPPED (a cancel), or whose marker they deleted once it was stopped,
        has its run cancelled. A running attempt's marker is never deleted otherwise (the
        functions' delete refuses while it runs, and it expires only after the deadline)."""
        await asyncio.sleep(CANCEL_POLL_S)
        watched = [held for held in self.held.values() if held.running and not held.cancel.is_set()]
        if not watched:
            return
        keys = [self.settings.attempt_key(held.attempt) for held in watched]
        stopped = await self.redis.eval(STOPPED_SCRIPT, len(keys), *keys, STATE_FIELD, STATE_STOPPED)
        for index in stopped if isinstance(stopped, list) else []:
            held = watched[int(index) - 1]
            log("info", f"attempt {held.attempt} stopped: cancelling its run", "")
            held.cancel.set()

    async def watch_lag(self) -> None:
        """The event loop's lag: how late a short sleep wakes up."""
        started = self.loop.time()
        await asyncio.sleep(LAG_PROBE_S)
        self.lags.append(max(0.0, self.loop.time() - started - LAG_PROBE_S))
        self.probes += 1
        if self.probes % LAG_EVERY == 0 or self.probes < LAG_EVERY:
            self.lag_p99_ms = p99(self.lags) * 1000

    async def read_queue_lag(self) -> None:
        """Entries not yet delivered to the group: all of them but the pending ones (what is
        done is deleted)."""
        with contextlib.suppress(redis.RedisError, OSError):
            pipe = self.redis.pipeline(transaction=False)
            pipe.xlen(self.settings.queue())
            pipe.xpending(self.settings.queue(), GROUP)
            length, pending = await pipe.execute()
            self.queue_lag = max(0, int(length) - int(pending["pending"]))

    def dispatch(self, message: Message, deliveries: int) -> None:
        held = self.held[message.entry_id] = Held(message.attempt)
        held.task = asyncio.ensure_future(self.handle(message, deliveries, held))

    async def handle(self, message: Message, deliveries: int, held: Held) -> None:
        try:
            await self.process(message, deliveries, held)
        except Exception as err:  # noqa: BLE001 - the entry stays pending and is claimed again
            log("error", f"attempt {message.attempt} not processed: {err!r}", "")
        finally:
            self.held.pop(message.entry_id, None)
            if self.slot_freed is not None:
                self.slot_freed.set()

    async def process(self, message: Message, deliveries: int, held: Held) -> None:
        settings = self.settings
        deliberation_id = best_effort_deliberation_id(message.request)
        attempt_key, result_key = settings.attempt_key(message.attempt), settings.result_key(message.attempt)
        started_ms = int(time.time() * 1000)
        if not message.attempt:
            await self.done(message)
            return
        # One round trip: a result already stored means the attempt ran (its marker is RUNNING or
        # STOPPED, which the script leaves as it is).
        # EVAL, not a Script in a pipeline: that one asks SCRIPT EXISTS first, every time; the
        # server caches the compiled script by its hash anyway.
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(result_key)
        pipe.eval(START_SCRIPT, 1, attempt_key, started_ms, STATE_FIELD, STARTED_AT_FIELD, STATE_PENDING,
                  STATE_RUNNING)
        stored, started = await pipe.execute()
        if stored or not started:
            # Finished elsewhere, stopped, or no longer wanted: running it again changes nothing.
            await self.done(message)
            return
        infrastructure = deliveries > settings.max_deliveries
        result: dict[str, Any] | None
        if infrastructure:
            result = lost_result(message, deliveries - 1)
        else:
            assert self.model is not None
            held.running = True
            result = await deliberate(self.model, message, held.cancel)
            if result is None:
                # Cancelled: the functions recorded the outcome already; nothing is stored.
                await self.done(message)
                return
        record = {
            "state": STATE_SUCCEEDED if exit_code(result) == EXIT_OK else STATE_FAILED,
            "infrastructure": infrastructure,
            "start_time": started_ms,
            "end_time": int(time.time() * 1000),
            "result": result,
        }
        stored_record = json.dumps(record, separators=(",", ":"), allow_nan=False)
        # Stored and acked in one MULTI: never acked without the result (a write Redis refuses,
        # out of memory, aborts the whole transaction), and one round trip instead of two.
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(result_key, stored_record, ex=settings.result_ttl_s, nx=True)
        self.ack(pipe, message)
        await pipe.execute()
        if self.wakeups is not None:
            await send_wakeup_async(self.wakeups, message.callback, deliberation_id)

    async def done(self, message: Message) -> None:
        pipe = self.redis.pipeline(transaction=True)
        self.ack(pipe, message)
        await pipe.execute()

    def ack(self, pipe: redis.asyncio.client.Pipeline, message: Message) -> None:
        # Acked and deleted: the stream holds only what is still to do, so it never needs trimming.
        pipe.xack(self.settings.queue(), GROUP, message.entry_id)
        pipe.xdel(self.settings.queue(), message.entry_id)


def tune_gc() -> None:
    """The replica's process is the runner's: what Ray and Serve loaded is frozen out of the
    collector's scans, and it collects after GC_GEN0 allocations rather than 700. With a thousand
    deliberations held the default collected every few milliseconds and took about a fifth of the
    loop's time in a burst (1.7 s of 8 measured alone, 0.4 s tuned); the garbage of cycles it
    lets build up meanwhile is small (asyncio's own)."""
    gc.freeze()
    gc.set_threshold(GC_GEN0, 20, 100)


class DeliberationRunner:
    """The Serve deployment: one Runner per replica. Serve restarts a replica whose health check
    fails, places and scales replicas across the cluster, reads their figures for its autoscaling
    policy, and calls __del__ when it stops one (scale-down, shutdown): the replica drains."""

    def __init__(self, settings: Settings) -> None:
        tune_gc()
        self.runner = Runner(settings)
        self.runner.start()

    def check_health(self) -> None:
        if not self.runner.healthy():
            raise RuntimeError("a runner loop has stopped")

    def record_autoscaling_stats(self) -> dict[str, float]:
        return self.runner.stats()

    def __del__(self) -> None:
        # Serve calls this once when it stops the replica (on its user-code thread, within
        # graceful_shutdown_timeout_s); the drain runs on the runner's own loop. A second call
        # (the garbage collector's) finds the runner closed and returns at once.
        self.runner.drain()


# Made a deployment by a call, not as a class decorator: the name stays the class's
# (DeliberationRunner), and the type checker sees the Deployment Serve binds.
RUNNER_DEPLOYMENT = serve.deployment(ray_actor_options={"num_cpus": 0})(DeliberationRunner)


def app(args: dict[str, Any]) -> Application:
    """The application builder Serve calls with the config's args."""
    return RUNNER_DEPLOYMENT.bind(Settings.from_args(args))
