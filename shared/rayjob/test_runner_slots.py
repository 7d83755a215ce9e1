"""The free slots a replica's shard readers share (runner_slots.Slots): never more reserved than
free, an equal share each, and a line served in order, so
a reader that just read waits behind those already waiting (no shard starves)."""

from __future__ import annotations

import asyncio

from runner_slots import Slots


def test_reservations_never_exceed_the_free_slots() -> None:
    async def run() -> None:
        running = [0]
        slots = Slots(capacity=10, shards=4, in_use=lambda: running[0], batch=256)
        assert slots.offer() == 2, "an equal share: 10 // 4"
        taken = [await slots.reserve() for _ in range(5)]
        assert taken == [2, 2, 2, 2, 2] and slots.free() == 0
        late = asyncio.ensure_future(slots.reserve())
        await asyncio.sleep(0)
        assert not late.done(), "none free: the reader waits"
        assert slots.try_reserve(5) == 0, "the reclaim takes nothing while readers wait"
        running[0] += 1  # one reservation brought an entry, which now runs
        slots.release(2)
        assert await late == 1 and slots.free() == 0, "what the release freed, less what runs"
    asyncio.run(run())


def test_the_line_is_served_in_order() -> None:
    async def run() -> None:
        slots = Slots(capacity=2, shards=8, in_use=lambda: 0, batch=256)
        assert slots.offer() == 1, "fewer slots than shards: one each"
        first, second = await slots.reserve(), await slots.reserve()
        order: list[str] = []

        async def reader(name: str) -> None:
            await slots.reserve()
            order.append(name)

        waiting = [asyncio.ensure_future(reader(name)) for name in ("a", "b", "c")]
        await asyncio.sleep(0)
        slots.release(first)
        # The reader that just released reads again: it queues behind a, b and c.
        again = asyncio.ensure_future(reader("again"))
        await asyncio.sleep(0)
        slots.release(second)
        await asyncio.sleep(0)
        assert order == ["a", "b"]
        slots.release(1)
        slots.release(1)
        await asyncio.sleep(0)
        assert order == ["a", "b", "c", "again"]
        await asyncio.gather(*waiting, again)
    asyncio.run(run())


def test_a_cancelled_waiter_gives_back_what_it_was_granted() -> None:
    async def run() -> None:
        slots = Slots(capacity=1, shards=2, in_use=lambda: 0, batch=256)
        held = await slots.reserve()
        waiter = asyncio.ensure_future(slots.reserve())
        await asyncio.sleep(0)
        slots.release(held)  # granted to the waiter...
        waiter.cancel()  # ...which is cancelled before it runs
        await asyncio.gather(waiter, return_exceptions=True)
        assert slots.free() == 1, "the grant came back"
    asyncio.run(run())
