"""The runner's own metrics, exported the way Serve replicas export theirs (ray.serve.metrics: Ray's
metrics agent on each node serves them to Prometheus with the deployment, replica and application
tags, and the `ray_` prefix): the queue's lag, what a replica holds (deliberations, agent calls on
the wire), how long entries waited in the queue, and each model call's latency by origin and
outcome. docs/observability.md lists them.

A Runner outside Serve (the tests) has NO_METRICS: nothing recorded, nothing to set up."""

from __future__ import annotations

from typing import Protocol

# Seconds: a model call takes from a few milliseconds (a fake) to minutes (a long answer).
CALL_BOUNDARIES = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
WAIT_BOUNDARIES = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300]


class RunnerMetrics(Protocol):
    def model_call(self, origin: str, outcome: str, seconds: float) -> None: ...
    def queue_wait(self, seconds: float) -> None: ...
    def figures(self, deliberations: int, calls: int) -> None: ...
    def queue_lag(self, entries: int) -> None: ...


class NoMetrics:
    def model_call(self, origin: str, outcome: str, seconds: float) -> None:
        pass

    def queue_wait(self, seconds: float) -> None:
        pass

    def figures(self, deliberations: int, calls: int) -> None:
        pass

    def queue_lag(self, entries: int) -> None:
        pass


NO_METRICS = NoMetrics()


class ServeMetrics:
    """The replica's metrics, made in the replica (Serve adds its tags from the replica's context)."""

    def __init__(self) -> None:
        from ray.serve.metrics import Gauge, Histogram

        # Ray annotates tag_keys as Tuple[str] (a 1-tuple) but takes any tuple of names.
        self.calls = Histogram(
            "rayexec_runner_model_call_seconds", boundaries=CALL_BOUNDARIES,
            tag_keys=("origin", "outcome"),  # type: ignore[arg-type]
            description="One model-server call attempt of an agent or the judge, by the server's origin and "
                        "its outcome (ok, timeout, connection, http_<status>, invalid_answer, too_large, cancelled).")
        self.waits = Histogram(
            "rayexec_runner_queue_wait_seconds", boundaries=WAIT_BOUNDARIES,
            description="How long an attempt waited in the runner queue, from its enqueue to a replica's pick-up.")
        self.deliberations = Gauge(
            "rayexec_runner_deliberations_in_flight",
            description="Deliberations the replica holds (running, or waiting for a slot on the wire).")
        self.in_flight_calls = Gauge(
            "rayexec_runner_calls_in_flight", description="Model-server calls of the replica on the wire.")
        self.lag = Gauge(
            "rayexec_runner_queue_lag", description="Entries of the runner queue not yet delivered to any replica.")

    def model_call(self, origin: str, outcome: str, seconds: float) -> None:
        self.calls.observe(seconds, tags={"origin": origin, "outcome": outcome})

    def queue_wait(self, seconds: float) -> None:
        self.waits.observe(max(0.0, seconds))

    def figures(self, deliberations: int, calls: int) -> None:
        self.deliberations.set(deliberations)
        self.in_flight_calls.set(calls)

    def queue_lag(self, entries: int) -> None:
        self.lag.set(entries)
