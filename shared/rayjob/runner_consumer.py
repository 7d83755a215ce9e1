"""The consumer of one replica (Runner): its own event loop on a thread of its own, on which it
reads as many entries as it has free deliberation slots (none when full), claims what dead or
drained replicas left, heartbeats what it holds, watches the markers of its runs for a stop and
runs each attempt as a task. Its life cycle (start, stop, drain, health, stats) is called from
Serve's threads. The run of one attempt (runner_attempt.py), the drain's hand-back
(runner_drain.py) and the replica's figures (runner_figures.py) are their own modules'."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from typing import Any

import aiohttp
import redis
import redis.asyncio
import redis.asyncio.client
from redis.typing import StreamIdT

import runner_redis
from messages import log
from model_client import ModelClient
from runner_attempt import Held, process
from runner_drain import finish_or_hand_back
from runner_figures import QUEUE_LAG_EVERY_S, LoopLag, autoscaling_stats, queue_lag, replica_figures
from runner_queue import GROUP, STATE_FIELD, STATE_STOPPED, STOPPED_SCRIPT, Message, stream_entries
from runner_settings import Settings

# The most entries one read or claim takes, however many slots are free.
READ_BATCH = 256
READ_BLOCK_MS = 1000
# How often a cancelled run notices it at the latest.
CANCEL_POLL_S = 0.5
STOP_TIMEOUT_S = 10.0
# Connections of a replica to Redis, and how long a command waits for one.
REDIS_CONNECTIONS = 64
REDIS_WAIT_S = 20.0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Serve's uvicorn[standard] brings it): the same loop for a
    fraction of the CPU per callback, which is what a replica with thousands of calls spends."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class Runner:
    """The consumer of one replica: reads, claims, heartbeats and runs attempts on its own event
    loop, on a thread of its own."""

    def __init__(self, settings: Settings, client: redis.asyncio.Redis | None = None) -> None:
        self.settings = settings
        # A bounded pool that waits for a free connection: a thousand deliberations share a few
        # dozen connections instead of failing once the pool's limit is reached.
        self.redis = client or runner_redis.connect(settings.redis_mode, settings.redis_url, REDIS_CONNECTIONS,
                                                    REDIS_WAIT_S)
        self.consumer = f"runner-{uuid.uuid4().hex[:12]}"
        self.held: dict[str, Held] = {}  # entry id -> what runs it
        self.reading = True
        self.lag = LoopLag()
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
        """What the autoscaling policy reads (record_autoscaling_stats); the queue's lag is
        asked for at most every QUEUE_LAG_EVERY_S and answered on the loop."""
        if time.monotonic() - self.queue_lag_at >= QUEUE_LAG_EVERY_S and self.thread.is_alive():
            self.queue_lag_at = time.monotonic()
            asyncio.run_coroutine_threadsafe(self.read_queue_lag(), self.loop)
        return autoscaling_stats(len(self.held), self.queue_lag, self.settings.max_deliberations, self.lag.p99_ms)

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
            await finish_or_hand_back(self.redis, self.settings, self.consumer, self.held, drain_s)
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

    async def forever(self, step: Any) -> None:
        """Runs step until cancelled; a Redis outage is waited out, never the end of the loop."""
        while True:
            try:
                await step()
            except (redis.RedisError, OSError) as err:
                log("warning", f"{step.__name__}: redis unavailable ({type(err).__name__})", "")
                await asyncio.sleep(1.0)
                if "NOGROUP" in str(err):
                    # A failover lost the stream, or its group, that the old primary had not
                    # replicated yet: made again, from id 0 (what is enqueued since is read).
                    with contextlib.suppress(redis.RedisError, OSError):
                        await self.ensure_group()

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
        peak_calls = self.model.limits.peak_in_flight if self.model else 0
        figures = replica_figures(len(self.held), peak_calls, self.lag.p99_ms)
        pipe.hset(self.settings.replicas_key(), self.consumer, json.dumps(figures))
        await pipe.execute()

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
        await self.lag.probe()

    async def read_queue_lag(self) -> None:
        with contextlib.suppress(redis.RedisError, OSError):
            self.queue_lag = await queue_lag(self.redis, self.settings.queue())

    def dispatch(self, message: Message, deliveries: int) -> None:
        held = self.held[message.entry_id] = Held(message.attempt)
        held.task = asyncio.ensure_future(self.handle(message, deliveries, held))

    async def handle(self, message: Message, deliveries: int, held: Held) -> None:
        try:
            await process(self.redis, self.settings, self.model, self.wakeups, message, deliveries, held)
        except Exception as err:  # noqa: BLE001 - the entry stays pending and is claimed again
            log("error", f"attempt {message.attempt} not processed: {err!r}", "")
        finally:
            self.held.pop(message.entry_id, None)
            if self.slot_freed is not None:
                self.slot_freed.set()
