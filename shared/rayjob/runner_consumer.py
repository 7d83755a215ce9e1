"""The consumer of one replica (Runner): its own event loop on a thread of its own, on which it
reads every shard of the queue of each of its pools (a reader per (pool, shard) stream, each with
commands on its own stream only, so each is one slot on a cluster) as many entries as it has free
deliberation slots (none when full; the readers share them through runner_slots.Slots), claims
what dead or drained replicas (of any cluster serving the pool) left, heartbeats what it holds,
watches the markers of its runs for a stop and its cluster's draining state, and runs each attempt
as a task. Its life cycle (start, stop, drain, health, stats) is called from Serve's threads. The
run of one attempt (runner_attempt.py), the drain's hand-back (runner_drain.py), the slots the
readers share (runner_slots.py), the cluster's draining state (runner_cluster.py) and the
replica's figures (runner_figures.py) are their own modules'."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
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
from runner_cluster import ClusterState
from runner_drain import HeldKey, finish_or_hand_back
from runner_figures import QUEUE_LAG_EVERY_S, LoopLag, autoscaling_stats, queue_lag, replica_figures
from runner_metrics import NO_METRICS, RunnerMetrics
from runner_queue import CONTRACT, GROUP, STATE_FIELD, STATE_STOPPED, STOPPED_SCRIPT, Message, stream_entries
from runner_settings import Settings
from runner_slots import Slots

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

    def __init__(self, settings: Settings, client: redis.asyncio.Redis | None = None,
                 metrics: RunnerMetrics = NO_METRICS) -> None:
        self.settings = settings
        self.metrics = metrics
        # Keys that do not fit the allowed origins stop the replica here, at its start.
        self.keys = settings.keys()
        # A bounded pool that waits for a free connection: a thousand deliberations share a few
        # dozen connections instead of failing once the pool's limit is reached.
        self.redis = client or runner_redis.connect(settings.redis_mode, settings.redis_url, REDIS_CONNECTIONS,
                                                    REDIS_WAIT_S)
        self.consumer = f"runner-{uuid.uuid4().hex[:12]}"
        self.held: dict[HeldKey, Held] = {}  # (pool, shard, entry id) -> what runs it
        self.streams = settings.streams()  # (pool, shard) of every stream it reads
        self.slots = Slots(settings.max_deliberations, len(self.streams), lambda: len(self.held), READ_BATCH)
        self.cluster = ClusterState(settings.cluster, settings.clusters_key())
        self.reads = 0  # reads in flight: a closing replica waits for them (what they bring is held)
        self.reading = True
        self.lag = LoopLag()
        self.queue_lag = 0
        self.queue_lag_at = 0.0
        self.loop = new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="runner-loop")
        self.loops: list[asyncio.Task[None]] = []
        self.model: ModelClient | None = None
        self.wakeups: aiohttp.ClientSession | None = None
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
        self.model = ModelClient(self.settings.max_calls, self.settings.max_calls_per_origin, self.keys,
                                 observer=self.metrics.model_call)
        self.wakeups = aiohttp.ClientSession(trust_env=False)
        await self.ensure_layout()
        await self.ensure_group()
        await self.cluster.read(self.redis)  # a replica of a draining cluster takes nothing, even at first
        readers = [asyncio.ensure_future(self.read_shard(pool, shard)) for pool, shard in self.streams]
        self.loops = readers + [asyncio.ensure_future(self.forever(step)) for step in
                                (self.reclaim, self.heartbeat, self.watch_stops, self.watch_lag,
                                 self.watch_cluster)]

    async def close(self, drain_s: float | None) -> None:
        self.reading = False
        # A read in progress (one round trip, no block) ends soon; what it brings is held, not lost.
        until = time.monotonic() + READ_BLOCK_MS / 1000 + 1
        while self.reads and time.monotonic() < until:
            await asyncio.sleep(0.02)
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

    async def ensure_layout(self) -> None:
        """Refuses a queue written with another shard count (the layout key, which the functions
        check too): its attempts would be looked for in the wrong shards. `make migrate-keys`
        moves it."""
        key = self.settings.layout_key()
        await self.redis.set(key, CONTRACT.shards, nx=True)
        written = await self.redis.get(key)
        if written is not None and int(written) != CONTRACT.shards:
            raise RuntimeError(f"{key} says the queue has {int(written)} shards, this runner reads "
                               f"{CONTRACT.shards}: run make migrate-keys (docs/state.md)")

    async def ensure_group(self) -> None:
        # From id 0: whatever the functions enqueued before the first replica came is read too.
        # Only its pools' streams: another pool's group is made by a runner that serves it.
        for pool, shard in self.streams:
            try:
                await self.redis.xgroup_create(self.settings.queue(shard, pool), GROUP, id="0", mkstream=True)
            except redis.ResponseError as err:
                if "BUSYGROUP" not in str(err):
                    raise

    async def read_shard(self, pool: str, shard: int) -> None:
        """The reader of one pool's stream in one shard, until cancelled; a Redis outage is waited
        out."""
        while True:
            try:
                last = await self.consume(pool, shard)
                if last is not None:
                    await self.wait_for_entries(pool, shard, last)
            except (redis.RedisError, OSError) as err:
                log("warning", f"read of pool {pool} shard {shard}: redis unavailable ({type(err).__name__})", "")
                await asyncio.sleep(1.0)

    async def consume(self, pool: str, shard: int) -> StreamIdT | None:
        """Reserves a share of the free slots (waiting in line while there are none) and takes at
        most that many entries of the stream, without blocking: a reservation lasts one round
        trip, so no idle stream holds slots back from a busy one. Answers None when the read
        filled its share (read again), or else the id of the stream's last entry before it: every
        entry up to it was delivered, so the reader waits for one beyond it. While the cluster
        drains it waits, reserving nothing."""
        if not self.reading:
            await asyncio.Event().wait()  # closing: this loop is cancelled
        await self.cluster.accepting.wait()
        take = await self.slots.reserve()
        try:
            if not self.reading or self.cluster.draining:
                return None
            self.reads += 1
            try:
                queue = self.settings.queue(shard, pool)
                pipe = self.redis.pipeline(transaction=False)
                pipe.xrevrange(queue, count=1)  # first: anything added after it is beyond its id
                pipe.xreadgroup(GROUP, self.consumer, {queue: ">"}, count=take)
                newest, answer = await pipe.execute()
            finally:
                self.reads -= 1
            entries = [entry for stream in (answer if isinstance(answer, list) else [])
                       for entry in stream_entries(stream[1])]
            for entry in entries:  # held before the reservation ends, so no slot is counted twice
                self.dispatch(Message.parse(*entry, shard=shard, pool=pool), deliveries=1)
        finally:
            self.slots.release(take)
        if len(entries) >= take:
            return None
        return newest[0][0] if newest else "0-0"

    async def wait_for_entries(self, pool: str, shard: int, last: StreamIdT) -> None:
        """Blocks, holding no slot, until the stream has an entry beyond last (XREAD, no group:
        nothing is delivered) or READ_BLOCK_MS passed."""
        await self.redis.xread({self.settings.queue(shard, pool): last}, count=1, block=READ_BLOCK_MS)

    async def reclaim(self) -> None:
        """Takes over what a dead replica left (or a draining one handed back), on any cluster,
        in every stream of its pools from a random one: entries idle for longer than
        claim_idle_s, as many as there are free slots. Nothing while its cluster drains."""
        await asyncio.sleep(self.settings.claim_idle_s / 3)
        first = random.randrange(len(self.streams))
        for i in range(len(self.streams)):
            if self.cluster.draining:
                return
            await self.reclaim_shard(*self.streams[(first + i) % len(self.streams)])

    async def reclaim_shard(self, pool: str, shard: int) -> None:
        queue = self.settings.queue(shard, pool)
        cursor: StreamIdT = "0-0"
        while self.reading and not self.cluster.draining:
            take = self.slots.try_reserve(READ_BATCH)
            if take <= 0:
                return
            try:
                claimed = await self.redis.xautoclaim(queue, GROUP, self.consumer,
                                                      int(self.settings.claim_idle_s * 1000), cursor, count=take)
                if not isinstance(claimed, list) or len(claimed) < 2:
                    return
                cursor = claimed[0]
                entries = stream_entries(claimed[1])
                if entries:
                    pipe = self.redis.pipeline(transaction=False)
                    for entry, _ in entries:
                        pipe.xpending_range(queue, GROUP, entry, entry, 1)
                    for (entry, fields), info in zip(entries, await pipe.execute(), strict=True):
                        deliveries = int(info[0]["times_delivered"]) if info else 1
                        log("warning", f"claimed {entry} of pool {pool} shard {shard} after {deliveries - 1} "
                            "lost deliveries", "")
                        self.dispatch(Message.parse(entry, fields, shard=shard, pool=pool), deliveries)
            finally:
                self.slots.release(take)
            if cursor in (b"0-0", "0-0"):
                return

    async def heartbeat(self) -> None:
        """Resets the idle clock of every entry this replica holds (JUSTID: no delivery counted),
        so no other replica claims a deliberation that is merely long; and writes this replica's
        figures to the replicas hash."""
        await asyncio.sleep(self.settings.heartbeat_s)
        pipe = self.redis.pipeline(transaction=False)
        for (pool, shard), entries in by_stream(self.held).items():
            pipe.xclaim(self.settings.queue(shard, pool), GROUP, self.consumer, 0, entries, justid=True)
        peak_calls = self.model.limits.peak_in_flight if self.model else 0
        self.metrics.figures(len(self.held), self.model.limits.in_flight if self.model else 0)
        figures = replica_figures(len(self.held), peak_calls, self.lag.p99_ms)
        pipe.hset(self.settings.replicas_key(), self.consumer, json.dumps(figures))
        await pipe.execute()

    async def watch_stops(self) -> None:
        """Every CANCEL_POLL_S, reads the markers of the attempts this replica runs: one the
        functions marked STOPPED (a cancel), or whose marker they deleted once it was stopped,
        has its run cancelled. A running attempt's marker is never deleted otherwise (the
        functions' delete refuses while it runs, and it expires only after the deadline)."""
        await asyncio.sleep(CANCEL_POLL_S)
        watched: dict[int, list[Held]] = {}
        for (_, shard, _), held in self.held.items():
            if held.running and not held.cancel.is_set():
                watched.setdefault(shard, []).append(held)
        # One call per shard (a script's keys share one slot), all at once.
        answers = await asyncio.gather(*(self.stopped_of(shard, helds) for shard, helds in watched.items()))
        for held in (one for answer in answers for one in answer):
            log("info", f"attempt {held.attempt} stopped: cancelling its run", "")
            held.cancel.set()

    async def stopped_of(self, shard: int, watched: list[Held]) -> list[Held]:
        keys = [self.settings.attempt_key(held.attempt, shard) for held in watched]
        stopped = await self.redis.eval(STOPPED_SCRIPT, len(keys), *keys, STATE_FIELD, STATE_STOPPED)
        return [watched[int(index) - 1] for index in (stopped if isinstance(stopped, list) else [])]

    async def watch_lag(self) -> None:
        await self.lag.probe()

    async def watch_cluster(self) -> None:
        await self.cluster.watch(self.redis)

    async def read_queue_lag(self) -> None:
        if self.cluster.draining:
            # What waits is for the other clusters: a draining one must not scale up for it.
            self.queue_lag = 0
            return
        with contextlib.suppress(redis.RedisError, OSError):
            self.queue_lag = await queue_lag(self.redis, [self.settings.queue(s, p) for p, s in self.streams])
            self.metrics.queue_lag(self.queue_lag)

    def dispatch(self, message: Message, deliveries: int) -> None:
        enqueued_ns = message.enqueued_ns()
        if enqueued_ns is not None:
            self.metrics.queue_wait(time.time() - enqueued_ns / 1e9)
        held = self.held[(message.pool, message.shard, message.entry_id)] = Held(message.attempt)
        held.task = asyncio.ensure_future(self.handle(message, deliveries, held))

    async def handle(self, message: Message, deliveries: int, held: Held) -> None:
        try:
            await process(self.redis, self.settings, self.model, self.wakeups, message, deliveries, held)
        except Exception as err:  # noqa: BLE001 - the entry stays pending and is claimed again
            log("error", f"attempt {message.attempt} not processed: {err!r}", "")
        finally:
            self.held.pop((message.pool, message.shard, message.entry_id), None)
            self.slots.wake()


def by_stream(held: dict[HeldKey, Held]) -> dict[tuple[str, int], list[StreamIdT]]:
    """The entry ids of held, by the (pool, shard) of their stream."""
    out: dict[tuple[str, int], list[StreamIdT]] = {}
    for pool, shard, entry in held:
        out.setdefault((pool, shard), []).append(entry)
    return out
