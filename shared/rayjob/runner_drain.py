"""The drain of a replica Serve stops: what it holds may finish for up to drain_s, then the
rest is cancelled and handed back to the group, idle as long as a dead replica's entry would be,
so the next reclaim of any replica takes it at once. The hand-back claims with JUSTID: it counts
no delivery, so a drained attempt is never nearer to being given up."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio
from redis.typing import StreamIdT

from messages import log
from runner_attempt import Held
from runner_queue import GROUP
from runner_settings import Settings

# What a replica holds is keyed by its entry's stream (pool, shard) and id.
HeldKey = tuple[str, int, str]


async def finish_or_hand_back(client: redis.asyncio.Redis, settings: Settings, consumer: str,
                              held: dict[HeldKey, Held], drain_s: float) -> None:
    """Waits up to drain_s for the runs of held ((pool, shard, entry id) -> what runs it), then
    cancels the rest and hands their entries back as consumer, stream by stream."""
    tasks = [one.task for one in held.values() if one.task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=drain_s)
    left = dict(held)
    if not left:
        return
    for one in left.values():
        if one.task is not None:
            one.task.cancel()
    await asyncio.gather(*(one.task for one in left.values() if one.task is not None),
                         return_exceptions=True)
    # Idle as long as a dead replica's entry: the next reclaim of any replica takes it at once.
    # JUSTID: the hand-back itself counts no delivery.
    streams: dict[tuple[str, int], list[StreamIdT]] = {}
    for pool, shard, entry in left:
        streams.setdefault((pool, shard), []).append(entry)
    try:
        for (pool, shard), entries in streams.items():
            await client.xclaim(settings.queue(shard, pool), GROUP, consumer, 0, entries,
                                idle=int(settings.claim_idle_s * 1000), justid=True)
        log("info", f"drained: handed back {len(left)} attempts", "")
    except redis.RedisError as err:
        log("warning", f"hand-back failed ({type(err).__name__}): claimed after claim_idle_s", "")
