"""Deliberation runner: a Ray Serve application that runs deliberations on warm workers.

The functions enqueue each attempt on a Redis Stream, the one of its pool. Every replica of this
deployment, on every Ray cluster serving that pool, reads the stream through one consumer group,
runs the deliberation with the job's own code, stores the result where the functions read it, and
sends the same finished wake-up as the job.

A replica runs everything on one asyncio event loop of its own (a thread started with the
replica, apart from Serve's loop): each deliberation a task, each agent call a coroutine of one
aiohttp session, bounded per replica (max_deliberations, max_calls) and per model-server origin
(max_calls_per_origin). It reads as many entries as it has free deliberation slots, and nothing
when it has none, so other replicas get the work.

A replica that dies mid-deliberation leaves its message pending in the group; another replica
claims it once it has been idle for claim_idle_s. A running deliberation resets its message's idle
clock every heartbeat_s, so only a dead replica's work is taken over. After max_deliveries the
attempt is given up as an infrastructure failure, which the functions may retry as a new attempt.
A replica Serve stops (scale-down, shutdown) drains: it stops reading, lets what it holds finish
for up to drain_s, then hands the rest back (idle at once, so another replica claims it at once).

The request is the job's, read by the job's own parse_request, so its policy holds here too: a
vllm_url outside the allowed origins is an unusable request, no redirect is followed, answers are
capped at max_answer_bytes and error messages are cleaned of control characters.

The group, keys, fields and states are the contract's (contract/runner_queue.json, read by
queue_contract.py and by the Go side alike); docs/ray.md describes them.

Each thing has its module: the settings and their checks (runner_settings.py), the queue's names,
scripts and replies (runner_queue.py), one replica's consumer and its loops (runner_consumer.py),
the free slots its shard readers share (runner_slots.py), one attempt from its entry to its stored
result (runner_attempt.py), the drain's hand-back (runner_drain.py), its cluster's draining state
(runner_cluster.py) and the replica's figures (runner_figures.py). This module is Serve's entry
point: the deployment class and the application builder, `deliberation_runner:app`.
"""

from __future__ import annotations

import gc
import os
from typing import Any

from ray import serve
from ray.serve import Application

import tracing
from package_digest import check_package
from runner_consumer import Runner
from runner_metrics import ServeMetrics
from runner_settings import Settings

# Allocations between two collections of the youngest generation in a replica (Python's: 700).
GC_GEN0 = 20_000


def tune_gc() -> None:
    """The replica's process is the runner's: what Ray and Serve loaded is frozen out of the
    collector's scans, and it collects after GC_GEN0 allocations rather than 700. With a thousand
    deliberations held the default collected every few milliseconds and took about a fifth of the
    loop's time in a burst (1.7 s of 8 measured alone, 0.4 s tuned); the garbage of cycles it
    lets build up meanwhile is small (asyncio's own)."""
    gc.freeze()
    gc.set_threshold(GC_GEN0, 20, 100)


class DeliberationRunner:
    """The Serve deployment: one Runner per replica. Serve restarts a replica whose health check
    fails, places and scales replicas across the cluster, reads their figures for its autoscaling
    policy, and calls __del__ when it stops one (scale-down, shutdown): the replica drains."""

    def __init__(self, settings: Settings) -> None:
        check_package(os.environ)  # the package deployed, or no replica
        tune_gc()
        # Its own tracer provider, from the replica's OTEL_* variables (the Serve app's env_vars).
        tracing.start_tracing(tracing.RUNNER_SERVICE)
        self.runner = Runner(settings, metrics=ServeMetrics())
        self.runner.start()

    def check_health(self) -> None:
        if not self.runner.healthy():
            raise RuntimeError("a runner loop has stopped")

    def record_autoscaling_stats(self) -> dict[str, float]:
        return self.runner.stats()

    def __del__(self) -> None:
        # Serve calls this once when it stops the replica (on its user-code thread, within
        # graceful_shutdown_timeout_s); the drain runs on the runner's own loop. A second call
        # (the garbage collector's) finds the runner closed and returns at once.
        self.runner.drain()
        tracing.flush()


# Made a deployment by a call, not as a class decorator: the name stays the class's
# (DeliberationRunner), and the type checker sees the Deployment Serve binds.
RUNNER_DEPLOYMENT = serve.deployment(ray_actor_options={"num_cpus": 0})(DeliberationRunner)


def app(args: dict[str, Any]) -> Application:
    """The application builder Serve calls with the config's args: a package that is not the one
    deployed, or settings that do not hold, fail the deployment here."""
    check_package(os.environ)
    return RUNNER_DEPLOYMENT.bind(Settings.from_args(args))
