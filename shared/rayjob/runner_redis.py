"""The runner's Redis client for the shape of the deployment (the Serve arg redis_mode, as the
functions' REDIS_MODE), built from a URL in go-redis's own form for that shape, so the functions and
the runner read one URL alike:

  standalone  redis://[user:password@]host:port[/db]
  sentinel    redis://[user:password@]s1:port[/db]?addr=s2:port&addr=s3:port&master_name=NAME
              the host and every addr are sentinels; the authority's credentials are the
              sentinels', username= and password= in the query the data nodes'; db= or the path
  cluster     redis://[user:password@]n1:port?addr=n2:port...  any reachable nodes; database 0 only

A URL that does not fit its mode is a ValueError at start, as on the Go side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

MODES = ("standalone", "sentinel", "cluster")

# A command that fails on what a failover causes (a lost or refused connection, a timeout, LOADING;
# on Sentinel a READONLY from a demoted primary, which the client turns into a lost connection and
# a new question to the sentinels; on Cluster also CLUSTERDOWN, TRYAGAIN and the slot map's
# reload) is tried again up to FAILOVER_RETRIES times, backing off from 0.2 s doubling to 2 s:
# about 15 s, longer than a failover with down-after-milliseconds 5000. The runner is off the
# request path, so it waits a failover out rather than drop an attempt's result; everything it
# sends is safe to repeat (a marker moved to RUNNING, a result SET NX with its ack, a claim).
FAILOVER_RETRIES = 10


def failover_retry() -> Retry:
    return Retry(ExponentialBackoff(cap=2.0, base=0.1), FAILOVER_RETRIES)


@dataclass(frozen=True)
class RedisTarget:
    """What a URL names for a mode: the addresses to ask first and the data nodes' options."""

    mode: str
    addrs: tuple[tuple[str, int], ...]  # the server, the sentinels, or the cluster's seed nodes
    db: int = 0
    username: str | None = None  # the data nodes'
    password: str | None = None
    ssl: bool = False
    master_name: str = ""
    sentinel_auth: dict[str, str] = field(default_factory=dict)  # the sentinels' own credentials


def parse(mode: str, url: str) -> RedisTarget:
    if mode not in MODES:
        raise ValueError(f"redis_mode {mode!r} is not one of {', '.join(MODES)}")
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"redis_url must be a redis:// or rediss:// URL with a host for {mode}")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    extra = [_addr(value) for value in parse_qs(parts.query).get("addr", [])]
    addrs = ((parts.hostname, parts.port or 6379), *extra)
    db = _db(parts.path, query.get("db"))
    user = unquote(parts.username) if parts.username else None
    secret = unquote(parts.password) if parts.password else None
    ssl = parts.scheme == "rediss"
    if mode == "standalone":
        if extra or "master_name" in query:
            raise ValueError("a standalone redis_url takes no addr= or master_name= (sentinel and cluster take them)")
        return RedisTarget(mode, addrs, db, user, secret, ssl)
    if mode == "sentinel":
        if not query.get("master_name"):
            raise ValueError("a sentinel redis_url needs master_name=, the group the sentinels monitor")
        auth = {key: value for key, value in (("username", user), ("password", secret)) if value}
        return RedisTarget(mode, addrs, db, query.get("username"), query.get("password"), ssl,
                           query["master_name"], auth)
    if db:
        raise ValueError("a cluster redis_url takes no database number: a cluster has only database 0")
    if "master_name" in query:
        raise ValueError("a cluster redis_url takes no master_name= (that is sentinel's)")
    return RedisTarget(mode, addrs, 0, user, secret, ssl)


def connect(mode: str, url: str, max_connections: int, wait_s: float) -> redis.asyncio.Redis:
    """The client for mode and url. RESP2, what every Redis 7.0 server and miniredis answer alike;
    a bounded pool that waits for a free connection (per node on a cluster)."""
    target = parse(mode, url)
    if target.mode == "standalone":
        return redis.asyncio.Redis(connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
            url, protocol=2, max_connections=max_connections, timeout=wait_s, retry=failover_retry()))
    node: dict[str, Any] = {"username": target.username, "password": target.password, "protocol": 2}
    if target.mode == "sentinel":
        sentinel = redis.asyncio.sentinel.Sentinel(
            list(target.addrs), sentinel_kwargs={**target.sentinel_auth, "ssl": target.ssl}, ssl=target.ssl, **node)
        primary = sentinel.master_for(target.master_name, connection_pool_class=BlockingSentinelPool, db=target.db,
                                      max_connections=max_connections, timeout=wait_s, retry=failover_retry())
        return cast(redis.asyncio.Redis, primary)  # master_for is untyped; it answers a Redis
    cluster = redis.asyncio.cluster.RedisCluster(
        startup_nodes=[redis.asyncio.cluster.ClusterNode(host, port) for host, port in target.addrs],
        ssl=target.ssl, max_connections=max_connections, retry=failover_retry(), **node)
    # The runner sends only what both clients answer alike for keys of one slot: single-key
    # commands, EVAL with its keys under one hash tag, and MULTI over the same tag.
    return cast(redis.asyncio.Redis, cluster)


class BlockingSentinelPool(redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool):
    """The primary's pool, waiting for a free connection as the standalone one does."""


def _addr(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"redis_url addr={value!r} is not host:port")
    return host.strip("[]"), int(port)


def _db(path: str, query_db: str | None) -> int:
    raw = path.strip("/") or query_db or "0"
    if not raw.isdigit():
        raise ValueError(f"redis_url database {raw!r} is not a number")
    return int(raw)
