"""Whether the runner's cluster is draining: the functions write every cluster's state from their
configuration into the clusters hash (field = the cluster's name, value = JSON {"draining": bool}),
and a replica reads its own field at most every DRAIN_CHECK_S. While its cluster drains, a replica
reads and reclaims nothing new, finishes what it holds and keeps heartbeating it; once undrained it
reads again. No field, or one that is not the functions' JSON, is a cluster that takes work: a
runner whose functions never wrote the hash behaves as before it existed."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio

from messages import log

DRAIN_CHECK_S = 1.0


def is_draining(value: bytes | str | None) -> bool:
    """The draining flag of a cluster's field in the clusters hash."""
    if value is None:
        return False
    try:
        doc = json.loads(value)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("draining") is True


class ClusterState:
    """The draining state of one cluster, as last read; accepting is set while it takes work."""

    def __init__(self, cluster: str, key: str) -> None:
        self.cluster = cluster
        self.key = key
        self.accepting = asyncio.Event()
        self.accepting.set()

    @property
    def draining(self) -> bool:
        return not self.accepting.is_set()

    async def read(self, client: redis.asyncio.Redis) -> None:
        """One read of the cluster's field (a Redis error propagates: the loop waits it out)."""
        draining = is_draining(await client.hget(self.key, self.cluster))
        if draining == self.draining:
            return
        log("info", f"cluster {self.cluster} {'drains: reading nothing new' if draining else 'takes work again'}", "")
        if draining:
            self.accepting.clear()
        else:
            self.accepting.set()

    async def watch(self, client: redis.asyncio.Redis) -> None:
        """A read, then the pause until the next (the consumer's forever loop repeats it)."""
        await self.read(client)
        await asyncio.sleep(DRAIN_CHECK_S)
