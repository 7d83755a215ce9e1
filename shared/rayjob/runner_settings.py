"""The runner's settings: what a Serve config's args set (the Redis to read, the key prefix, the
bounds of a replica, the claim, heartbeat and drain times, and its own limits: the model servers
it may call, its wake-up target, its caps, limits.py), their defaults, the checks from_args
makes before a replica starts (the model servers' keys of its environment among them), the
cluster it runs on and the pools whose streams it reads, and the keys a replica reads under its
prefix. deploy/knative's
tests read the Settings dataclass below to know every argument the runner takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import runner_redis
from call_limits import DEFAULT_MAX_CALLS, DEFAULT_MAX_CALLS_PER_ORIGIN
from limits import DEFAULT_MAX_AGENTS, DEFAULT_MAX_TIMEOUT_S, Limits, parse_limits
from model_keys import Keys, keys_from_environment
from policy import DEFAULT_MAX_ANSWER_BYTES
from runner_queue import CONTRACT

# A cluster's or a pool's name, as the functions' RAY_CLUSTERS checks it: it goes into keys.
NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?")
DEFAULT_CLUSTER = "default"  # the functions' name of the one cluster of RAY_ADDRESS


@dataclass(frozen=True)
class Settings:
    redis_url: str
    redis_mode: str = "standalone"  # standalone | sentinel | cluster: how redis_url is read (runner_redis)
    key_prefix: str = "rayexec"
    max_deliberations: int = 1000  # per replica, at once
    max_calls: int = DEFAULT_MAX_CALLS  # model calls on the wire per replica
    max_calls_per_origin: int = DEFAULT_MAX_CALLS_PER_ORIGIN  # of them to one model server
    claim_idle_s: float = 30.0
    heartbeat_s: float = 5.0
    max_deliveries: int = 3
    result_ttl_s: int = 86400
    drain_s: float = 20.0  # how long a stopping replica lets its deliberations finish
    # Its own limits (limits.py): an entry outside them is an unusable request, never run.
    allowed_origins: tuple[str, ...] | None = ()  # canonical origins; None is "*"; empty: none
    callback_url: str = ""  # the only wake-up target; an entry naming another is refused
    max_agents: int = DEFAULT_MAX_AGENTS
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    max_timeout_s: int = DEFAULT_MAX_TIMEOUT_S
    # The Ray cluster this runner runs on (written into what it runs, and whose draining state it
    # follows) and the pools whose streams it reads.
    cluster: str = DEFAULT_CLUSTER
    pools: tuple[str, ...] = (CONTRACT.default_pool,)

    @staticmethod
    def from_args(args: dict[str, Any]) -> Settings:
        if not args.get("redis_url"):
            raise ValueError("the runner needs redis_url")
        args = dict(args)
        if "max_agent_calls" in args:  # its name before the event loop
            args.setdefault("max_calls", args.pop("max_agent_calls"))
        defaults = Settings(redis_url="")
        kinds = {"redis_mode": str, "key_prefix": str, "max_deliberations": int, "max_calls": int,
                 "max_calls_per_origin": int,
                 "claim_idle_s": float, "heartbeat_s": float, "max_deliveries": int,
                 "result_ttl_s": int, "drain_s": float}
        values: dict[str, Any] = {key: kind(args.get(key, getattr(defaults, key))) for key, kind in kinds.items()}
        values["redis_mode"] = values["redis_mode"].lower()
        limits = parse_limits(args, "the runner's")
        values.update(allowed_origins=limits.allowed_origins, callback_url=limits.callback_url,
                      max_agents=limits.max_agents, max_answer_bytes=limits.max_answer_bytes,
                      max_timeout_s=limits.max_timeout_s)
        values["cluster"], values["pools"] = _cluster_and_pools(args, defaults)
        settings = Settings(redis_url=str(args["redis_url"]), **values)
        settings.keys()  # keys that do not fit the allowed origins fail here, before a replica
        runner_redis.parse(settings.redis_mode, settings.redis_url)  # a URL that misfits its mode fails here
        if min(settings.max_deliberations, settings.max_calls, settings.max_calls_per_origin,
               settings.max_deliveries) < 1:
            raise ValueError("max_deliberations, max_calls, max_calls_per_origin and max_deliveries must be >= 1")
        if not 0 < settings.heartbeat_s < settings.claim_idle_s:
            raise ValueError("heartbeat_s must be positive and shorter than claim_idle_s")
        if settings.drain_s < 0:
            raise ValueError("drain_s must be >= 0")
        return settings

    def limits(self) -> Limits:
        return Limits(self.allowed_origins, self.callback_url, self.max_agents, self.max_answer_bytes,
                      self.max_timeout_s)

    def keys(self) -> Keys:
        """The model servers' keys of this process's environment (the Ray pods' Secret), never
        of the args, which Serve shows to whoever reads its config."""
        return keys_from_environment(self.allowed_origins)

    # The queue is split into CONTRACT.shards shards, each with a stream per pool; an attempt's
    # keys are in the shard of the stream its entry came from (Message.shard), which is the shard
    # of its id.
    def queue(self, shard: int, pool: str = CONTRACT.default_pool) -> str:
        return CONTRACT.queue_key(self.key_prefix, shard, pool)

    def streams(self) -> list[tuple[str, int]]:
        """The (pool, shard) of every stream this runner reads: its pools' only."""
        return [(pool, shard) for pool in self.pools for shard in range(CONTRACT.shards)]

    def clusters_key(self) -> str:
        return CONTRACT.key("clusters", self.key_prefix)

    def attempt_key(self, attempt: str, shard: int | None = None) -> str:
        return CONTRACT.key("attempt", self.key_prefix, attempt, shard)

    def result_key(self, attempt: str, shard: int | None = None) -> str:
        return CONTRACT.key("result", self.key_prefix, attempt, shard)

    def layout_key(self) -> str:
        return CONTRACT.key("layout", self.key_prefix)

    def replicas_key(self) -> str:
        return CONTRACT.key("replicas", self.key_prefix)



def _cluster_and_pools(args: dict[str, Any], defaults: Settings) -> tuple[str, tuple[str, ...]]:
    """The args cluster (a name) and pools (a non-empty list of distinct names)."""
    cluster = args.get("cluster", defaults.cluster)
    if not isinstance(cluster, str) or not NAME.fullmatch(cluster):
        raise ValueError(f"cluster must be lower-case letters, digits and '-', at most 32, got {cluster!r}")
    pools = args.get("pools", list(defaults.pools))
    if not isinstance(pools, (list, tuple)) or not pools:
        raise ValueError(f"pools must be a non-empty list of pool names, got {pools!r}")
    for pool in pools:
        if not isinstance(pool, str) or not NAME.fullmatch(pool):
            raise ValueError(f"pool {pool!r} must be lower-case letters, digits and '-', at most 32")
    if len(set(pools)) != len(pools):
        raise ValueError(f"pools lists a pool twice: {pools!r}")
    return cluster, tuple(pools)
