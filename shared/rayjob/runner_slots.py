"""The free deliberation slots of a replica, shared by its readers (one per stream it reads: a
shard of the queue of one of its pools):
a reader reserves slots for the one round trip of its read and takes at most that many entries,
so the replica never holds more than max_deliberations whatever the readers do at once. Fair
across shards: each reader is offered an equal share of what is free (at least one), a reader
waits in line (first come, first served) when none is free, and one that just read queues behind
those already waiting, so no shard is starved."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable


class Slots:
    """Reservations of free slots: capacity less what runs (in_use) less what readers reserved."""

    def __init__(self, capacity: int, shards: int, in_use: Callable[[], int], batch: int) -> None:
        self.capacity = capacity
        self.shards = shards
        self.in_use = in_use
        self.batch = batch
        self.reserved = 0
        self.waiters: collections.deque[asyncio.Future[int]] = collections.deque()

    def free(self) -> int:
        return self.capacity - self.in_use() - self.reserved

    def offer(self) -> int:
        """What one reader may reserve now: an equal share of the slots not running (at least one,
        at most batch), never more than is free."""
        share = max(1, min(self.batch, (self.capacity - self.in_use()) // self.shards))
        return max(0, min(share, self.free()))

    async def reserve(self) -> int:
        """Waits in line for free slots and reserves a share of them (offer)."""
        take = self.offer()
        if take > 0 and not self.waiters:
            self.reserved += take
            return take
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # granted as it was cancelled: give it back
            raise

    def try_reserve(self, wanted: int) -> int:
        """Reserves up to wanted slots at once, none while readers wait in line (the reclaim's)."""
        if self.waiters:
            return 0
        take = max(0, min(wanted, self.free()))
        self.reserved += take
        return take

    def release(self, reserved: int) -> None:
        """Ends a reservation (what it brought now runs, counted by in_use) and serves the line."""
        self.reserved -= reserved
        self.wake()

    def wake(self) -> None:
        """Grants waiting readers, in order, while slots are free: call when a run ends."""
        while self.waiters:
            waiter = self.waiters[0]
            if waiter.done():
                self.waiters.popleft()
                continue
            take = self.offer()
            if take <= 0:
                return
            self.waiters.popleft()
            self.reserved += take
            waiter.set_result(take)
