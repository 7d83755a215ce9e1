"""The limits of model calls on the wire: at most max_calls at once per ModelClient (a runner
replica, a job's process) and max_calls_per_origin of them to one model-server origin, so one busy
server does not starve another. A call takes its places when it goes on the wire and gives them
back when it leaves (never held during a backoff); the peak of calls at once is kept for the
replica's figures. Made on the event loop that uses it (asyncio semaphores)."""

from __future__ import annotations

import asyncio
import functools
import time

from policy import canonical_origin

# Calls on the wire at once: per ModelClient (a runner replica, a job's process) and per model
# server origin. Sized for a vLLM server, which batches hundreds of sequences at once.
DEFAULT_MAX_CALLS = 2048
DEFAULT_MAX_CALLS_PER_ORIGIN = 512


class CallLimits:
    """The places on the wire of one ModelClient, in all and per origin."""

    def __init__(self, max_calls: int = DEFAULT_MAX_CALLS,
                 max_calls_per_origin: int = DEFAULT_MAX_CALLS_PER_ORIGIN) -> None:
        if min(max_calls, max_calls_per_origin) < 1:
            raise ValueError("max_calls and max_calls_per_origin must be >= 1")
        self.max_calls = max_calls
        self.max_calls_per_origin = max_calls_per_origin
        self._calls = asyncio.Semaphore(max_calls)
        self._origins: dict[str, asyncio.Semaphore] = {}
        self.in_flight = 0
        self.peak_in_flight = 0

    def origin_slots(self, url: str) -> asyncio.Semaphore:
        origin = origin_of(url)
        slots = self._origins.get(origin)
        if slots is None:
            slots = self._origins[origin] = asyncio.Semaphore(self.max_calls_per_origin)
        return slots

    async def acquire(self, url: str, until: float) -> asyncio.Semaphore:
        """Takes a place in all and one at url's origin, waiting until (unix seconds) at most:
        asyncio.TimeoutError when none is free by then. Returns the origin's places, which
        release takes back."""
        origin = self.origin_slots(url)
        if origin.locked() or self._calls.locked():
            await asyncio.wait_for(_acquire_both(self._calls, origin), until - time.time())
        else:  # room at once: no timer (wait_for costs a task per call)
            await _acquire_both(self._calls, origin)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return origin

    def release(self, origin: asyncio.Semaphore) -> None:
        self.in_flight -= 1
        origin.release()
        self._calls.release()


@functools.lru_cache(maxsize=1024)
def origin_of(url: str) -> str:
    """The origin a call's limit is counted at; cached: a run's calls share a few URLs, and the
    canonical form (IDNA, ports) costs a quarter of a millisecond."""
    try:
        return canonical_origin(url)
    except ValueError:
        return url


async def _acquire_both(calls: asyncio.Semaphore, origin: asyncio.Semaphore) -> None:
    # The origin first: a call waiting on a busy origin holds no place another origin could use.
    await origin.acquire()
    try:
        await calls.acquire()
    except BaseException:
        origin.release()
        raise
