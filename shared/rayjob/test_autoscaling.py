"""Tests of the runner's autoscaling policy (autoscaling.py) on contexts built as Serve's controller
builds them, alone and inside Serve's own wrapper (bounds, delays), and shipped the way Serve ships
it: cloudpickled by value into a process that cannot import the module."""

from __future__ import annotations

import subprocess
import sys

from ray.serve._private.common import DeploymentID, ReplicaID
from ray.serve.autoscaling_policy import _apply_app_level_autoscaling_config, _apply_autoscaling_config
from ray.serve.config import AutoscalingConfig, AutoscalingContext, AutoscalingPolicy

from autoscaling import CAPACITY, IN_FLIGHT, QUEUE_LAG, queue_app_policy, queue_policy

DEPLOYMENT = DeploymentID(name="DeliberationRunner", app_name="deliberation-runner")


def replicas(n: int) -> list[ReplicaID]:
    return [ReplicaID(unique_id=f"r{i}", deployment_id=DEPLOYMENT) for i in range(n)]


def context(running: int, target: int, metrics: dict[str, list[float]] | None,
            config: AutoscalingConfig | None = None) -> AutoscalingContext:
    """A context of running replicas, each reporting metrics[name][i] (a shorter list: the later
    replicas have not reported that figure yet)."""
    ids = replicas(running)
    aggregated = None if metrics is None else {
        name: dict(zip(ids, values, strict=False)) for name, values in metrics.items()}
    config = config or AutoscalingConfig(min_replicas=1, max_replicas=8, upscale_delay_s=0, downscale_delay_s=0)
    return AutoscalingContext(
        deployment_id=DEPLOYMENT, deployment_name=DEPLOYMENT.name, app_name=DEPLOYMENT.app_name,
        current_num_replicas=running, target_num_replicas=target, running_replicas=ids,
        total_num_requests=0.0, total_queued_requests=0.0,
        aggregated_metrics=aggregated, raw_metrics=None,
        capacity_adjusted_min_replicas=config.min_replicas, capacity_adjusted_max_replicas=config.max_replicas,
        policy_state={}, last_scale_up_time=None, last_scale_down_time=None, current_time=1000.0, config=config)


def stats(in_flight: list[float], lag: float, capacity: float = 50) -> dict[str, list[float]]:
    return {IN_FLIGHT: in_flight, QUEUE_LAG: [lag] * len(in_flight), CAPACITY: [capacity] * len(in_flight)}


def test_rises_with_the_lag() -> None:
    # One replica full (50 of 50) and 350 entries waiting: 400 at 40 a replica.
    desired, state = queue_policy(context(1, 1, stats([50], lag=350)))
    assert (desired, state) == (10, {})
    # The lag is the group's, seen alike by every replica: counted once, not per replica.
    desired, _ = queue_policy(context(2, 2, stats([50, 50], lag=300)))
    assert desired == 10


def test_holds_while_busy() -> None:
    # Three replicas running 30 each, nothing waiting: 90 fits three at 40, not two.
    desired, _ = queue_policy(context(3, 3, stats([30, 30, 30], lag=0)))
    assert desired == 3


def test_falls_to_the_minimum_when_idle() -> None:
    desired, _ = queue_policy(context(4, 4, stats([0, 0, 0, 0], lag=0)))
    assert desired == 0
    # Serve's wrapper and bounds: with no downscale delay it goes down at once, to min_replicas.
    config = AutoscalingConfig(min_replicas=1, max_replicas=4, upscale_delay_s=0, downscale_delay_s=0)
    wrapped, _ = _apply_autoscaling_config(queue_policy)(context(4, 4, stats([0] * 4, lag=0), config))
    assert max(config.min_replicas, wrapped) == 1
    # With a downscale delay, the first idle tick keeps the replicas.
    slow = AutoscalingConfig(min_replicas=1, max_replicas=4, upscale_delay_s=0, downscale_delay_s=30)
    held, _ = _apply_autoscaling_config(queue_policy)(context(4, 4, stats([0] * 4, lag=0), slow))
    assert held == 4


def test_missing_metrics_keep_the_target() -> None:
    for metrics in (None, {}, {QUEUE_LAG: [500.0]}, {IN_FLIGHT: [10.0], QUEUE_LAG: [500.0]}):
        desired, _ = queue_policy(context(2, 3, metrics))
        assert desired == 3, metrics
    # A replica that has not reported yet adds nothing; those that did count.
    desired, _ = queue_policy(context(3, 3, {IN_FLIGHT: [40.0], QUEUE_LAG: [80.0], CAPACITY: [50.0]}))
    assert desired == 3


def test_the_smallest_capacity_plans() -> None:
    # Replicas of two configs side by side (a redeploy under way): plan with the smaller.
    desired, _ = queue_policy(context(2, 2, {IN_FLIGHT: [20.0, 20.0], QUEUE_LAG: [0.0, 0.0], CAPACITY: [50.0, 25.0]}))
    assert desired == 2  # 40 / (25 * 0.8)


def test_the_application_policy_decides_per_deployment() -> None:
    # The form the Serve config names (Serve's dashboard cannot import a deployment's policy).
    config = AutoscalingConfig(min_replicas=1, max_replicas=4, upscale_delay_s=0, downscale_delay_s=0)
    ctx = context(1, 1, stats([50], lag=100), config)
    decisions, _ = _apply_app_level_autoscaling_config(queue_app_policy)({DEPLOYMENT: ctx})
    assert decisions == {DEPLOYMENT: 4}  # 150 at 40 a replica
    held, _ = queue_app_policy({DEPLOYMENT: context(2, 2, None)})
    assert held == {DEPLOYMENT: 2}


def test_ships_by_value_to_a_process_without_the_module() -> None:
    # As the Serve config names it; Serve's build task serializes it the same way.
    policy = AutoscalingPolicy(policy_function="autoscaling:queue_app_policy")  # type: ignore[no-untyped-call]
    shipped = policy.get_serialized_policy_def()
    assert shipped
    probe = ("import sys, types\nfrom ray import cloudpickle\n"
             "assert 'autoscaling' not in sys.modules\n"
             "policy = cloudpickle.loads(sys.stdin.buffer.read())\n"
             "m = {'runner_in_flight': {'a': 50.0}, 'runner_queue_lag': {'a': 150.0}, 'runner_capacity': {'a': 50.0}}\n"
             "ctx = types.SimpleNamespace(target_num_replicas=1, aggregated_metrics=m)\n"
             "print(policy({'runner': ctx})[0]['runner'])\n"
             "try:\n    import autoscaling\nexcept ImportError:\n    print('not importable')\n")
    out = subprocess.run([sys.executable, "-I", "-c", probe], input=shipped, capture_output=True, check=True,
                         cwd="/")
    assert out.stdout.decode().split() == ["5", "not", "importable"]
