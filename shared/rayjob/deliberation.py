"""One deliberation's run, shared by the job and the runner: the deadline budget, the progress a
deadline can read at any moment, the agents (coroutines on the run's loop in the runner, Ray tasks
in the job), then the judge."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import ray

import tracing
from agent import agent_failure, run_agent, run_agent_in_task
from judge import Scoring, failed_scoring, score_proposals
from model_client import MIN_CALL_S, ModelClient, never_cancelled
from request import Agent, Request
from result import build_result

# Deadline budget. The result line must be out PRINT_MARGIN_S before the deadline; the last part
# of the time left is kept for the judge so a stalled agent cannot starve scoring.
PRINT_MARGIN_S = 1.0
JUDGE_SHARE = 0.2
JUDGE_RESERVE_MIN_S = 1.0
JUDGE_RESERVE_MAX_S = 60.0
AGENT_GRACE_S = 0.5


@dataclass(frozen=True)
class Budget:
    agents_until: float
    judge_until: float
    print_by: float


def plan_budget(now: float, deadline: float) -> Budget:
    print_by = deadline - PRINT_MARGIN_S
    span = max(0.0, print_by - now)
    reserve = min(JUDGE_RESERVE_MAX_S, max(JUDGE_SHARE * span, min(JUDGE_RESERVE_MIN_S, span / 2)))
    return Budget(agents_until=print_by - reserve, judge_until=print_by, print_by=print_by)


class Progress:
    """What the run has learned so far, readable at any moment by the deadline watchdog."""

    def __init__(self, agents: tuple[Agent, ...]) -> None:
        self._agents = agents
        self._lock = threading.Lock()
        self._outcomes: dict[str, dict[str, Any]] = {}
        self._scoring: Scoring | None = None

    def record(self, outcome: dict[str, Any]) -> None:
        with self._lock:
            self._outcomes[outcome["agent_id"]] = outcome

    def set_scoring(self, scoring: Scoring) -> None:
        with self._lock:
            self._scoring = scoring

    def proposals(self) -> list[tuple[Agent, str]]:
        with self._lock:
            return [(agent, self._outcomes[agent.agent_id]["proposal"]) for agent in self._agents
                    if self._outcomes.get(agent.agent_id, {}).get("ok")]

    def result(self, pending_error: str) -> dict[str, Any]:
        with self._lock:
            scoring = self._scoring
            if scoring is None and any(o.get("ok") for o in self._outcomes.values()):
                scoring = failed_scoring(pending_error + " before scoring")
            return build_result(self._agents, dict(self._outcomes), scoring, pending_error)


# How a run gets its agents' outcomes into progress: as coroutines on the run's event loop (the
# runner) or as Ray tasks (the job). Everything else about a deliberation is the same code.
AgentRunner = Callable[[ModelClient, Request, Budget, Progress, Callable[[], bool]], Awaitable[None]]


async def run_deliberation(client: ModelClient, request: Request, budget: Budget, progress: Progress,
                           run_agents: AgentRunner | None = None,
                           cancelled: Callable[[], bool] = never_cancelled) -> None:
    if time.time() + MIN_CALL_S > budget.agents_until:
        return  # no time left for any call: every agent is reported as pending
    await (run_agents or run_agents_as_coroutines)(client, request, budget, progress, cancelled)
    proposals = progress.proposals()
    if proposals and not cancelled():
        progress.set_scoring(await score_proposals(client, request, proposals, budget.judge_until, cancelled))


def agents_wait_until(budget: Budget) -> float:
    """How long a run waits for its agents: they stop on their own at agents_until; the grace
    covers their last report, and the result must still be out by print_by."""
    return min(budget.agents_until + AGENT_GRACE_S, budget.print_by)


async def run_agents_as_coroutines(client: ModelClient, request: Request, budget: Budget,
                                   progress: Progress, cancelled: Callable[[], bool]) -> None:
    """Each agent a task of the run's loop, recorded as it finishes; one still running after the
    wait is cancelled and reported pending."""
    tasks: dict[asyncio.Task[dict[str, Any]], str] = {}
    for agent in request.agents:
        task = asyncio.ensure_future(run_agent(client, request, agent, budget.agents_until, cancelled))
        tasks[task] = agent.agent_id
        task.add_done_callback(lambda done: record_task(done, tasks[done], progress))
    try:
        await asyncio.wait(tasks, timeout=max(0.0, agents_wait_until(budget) - time.time()))
    finally:
        for task in tasks:
            task.cancel()


def record_task(task: asyncio.Task[dict[str, Any]], agent_id: str, progress: Progress) -> None:
    if task.cancelled():
        return  # pending: the result reports it so
    err = task.exception()
    if err is not None:
        progress.record(agent_failure(agent_id, f"agent call failed ({type(err).__name__})"))
    else:
        progress.record(task.result())


async def run_agents_as_ray_tasks(client: ModelClient, request: Request, budget: Budget,
                                  progress: Progress, cancelled: Callable[[], bool]) -> None:
    """The job's way: one Ray task per agent (each its own loop and client, run_agent_in_task),
    awaited here. ray.init blocks the loop while it joins the cluster: nothing else runs on the
    job's loop yet, and the watchdog is a thread."""
    # RAY_ADDRESS (set by Ray for a job's driver) says which cluster to join.
    ray.init()
    remote_agent = ray.remote(num_cpus=0, max_retries=0)(run_agent_in_task)
    # Each task's span is a child of the current one (the job's deliberation span).
    traceparent, otel_env = tracing.current_traceparent(), tracing.otel_env(os.environ)
    refs = {remote_agent.remote(request, agent, budget.agents_until, traceparent, otel_env): agent.agent_id
            for agent in request.agents}
    futures = {asyncio.wrap_future(ref.future()): ref for ref in refs}
    waiting = True  # an agent cancelled after the wait stays pending, not failed

    def record(future: asyncio.Future[Any]) -> None:
        if waiting:
            progress.record(task_outcome(future, refs[futures[future]]))

    for future in futures:
        future.add_done_callback(record)
    _, pending = await asyncio.wait(futures, timeout=max(0.0, agents_wait_until(budget) - time.time()))
    waiting = False
    for future in pending:
        # Cancelling is a courtesy; the result does not wait for it.
        with contextlib.suppress(Exception):
            ray.cancel(futures[future], force=True)


def task_outcome(future: asyncio.Future[Any], agent_id: str) -> dict[str, Any]:
    try:
        outcome: dict[str, Any] = future.result()
    except BaseException as err:  # noqa: BLE001 - a crashed worker is this agent's failure
        return agent_failure(agent_id, f"agent task failed ({type(err).__name__})")
    return outcome
