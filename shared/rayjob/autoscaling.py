"""The deliberation runner's Serve autoscaling policy: replicas follow the queue (docs/ray.md).

Serve's own policy counts requests through handles, which stay at zero for a queue consumer. Each
runner replica reports instead, through record_autoscaling_stats, the deliberations it holds, the
queue entries not yet delivered to the group and how many deliberations it runs at most; the
policy asks for enough replicas to hold all of that at TARGET_FILL of their capacity. Serve's
wrapper then applies min_replicas/max_replicas, the delays and the scaling factors of the
deployment's autoscaling_config.

Serve cloudpickles this module by value into its controller, which has neither the runner's
working_dir nor redis-py: the policy is pure and imports the standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

# The figures a runner replica reports (DeliberationRunner.record_autoscaling_stats).
IN_FLIGHT = "runner_in_flight"
QUEUE_LAG = "runner_queue_lag"
CAPACITY = "runner_capacity"

# The share of a replica's max_deliberations the policy plans to fill: the rest is headroom for
# the next burst while a new replica starts (seconds on a warm node).
TARGET_FILL = 0.8


class Context(Protocol):
    """What the policy reads of Serve's AutoscalingContext."""

    @property
    def target_num_replicas(self) -> int: ...

    @property
    def aggregated_metrics(self) -> Mapping[str, Mapping[Any, float]] | None: ...


def desired_replicas(lag: float, in_flight: float, capacity: float) -> int:
    """Replicas that hold the undelivered entries and the running deliberations at TARGET_FILL."""
    return math.ceil(max(lag + in_flight, 0.0) / (max(capacity, 1.0) * TARGET_FILL))


def queue_policy(ctx: Context) -> tuple[int, dict[str, Any]]:
    """The policy for one deployment (the runner's): how many replicas it needs.

    The lag is the group's, which every replica reads alike: the largest report counts once, not
    their sum. The in-flight work is each replica's own: summed. Until a replica reports (none
    started yet, or a runner without the stats), the target stays as it is.
    """
    metrics = ctx.aggregated_metrics or {}
    in_flight = metrics.get(IN_FLIGHT) or {}
    capacity = metrics.get(CAPACITY) or {}
    if not in_flight or not capacity:
        return ctx.target_num_replicas, {}
    lag = max((metrics.get(QUEUE_LAG) or {}).values(), default=0.0)
    per_replica = min(capacity.values())
    return desired_replicas(lag, sum(in_flight.values()), per_replica), {}


def queue_app_policy(contexts: Mapping[Any, Context]) -> tuple[dict[Any, int | float], dict[Any, dict[Any, Any]]]:
    """The same policy at the application's level (the Serve config's autoscaling_policy
    "autoscaling:queue_app_policy"), for each deployment of the runner's application.

    This is the form a config deployed through the REST API can name: Serve's dashboard validates
    a deployment's autoscaling_config.policy by importing it, in its own process, where the
    runner's working_dir is not; an application's policy is imported only in the application's
    runtime_env.
    """
    return {deployment: queue_policy(ctx)[0] for deployment, ctx in contexts.items()}, {}
