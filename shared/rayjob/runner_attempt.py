"""One attempt on a replica, from its entry to its stored result: whether it may run (the start
script on its marker), its run by the job's own code (deliberate, which keeps the deadline and the
cancel whatever the model servers do), the result of an attempt given up after max_deliveries
(lost_result), the result stored and the entry acked in one transaction, and Held, what the
replica keeps of an entry while it runs.

Its spans continue the entry's trace (the functions' enqueue span): the time the entry waited in
the queue, and the deliberation, with the agents, the judge, the stored result and the wake-up
under it."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import redis.asyncio
import redis.asyncio.client
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

import tracing
from deliberation import Progress, plan_budget, run_deliberation
from judge import failed_scoring
from limits import Limits
from messages import log
from model_client import ModelClient
from request import Agent, RequestError, best_effort_agent_ids, best_effort_deliberation_id, parse_request
from result import EXIT_OK, build_result, exit_code, unusable_request_result
from runner_queue import (
    CLUSTER_FIELD,
    GROUP,
    START_SCRIPT,
    STARTED_AT_FIELD,
    STATE_FAILED,
    STATE_FIELD,
    STATE_PENDING,
    STATE_RUNNING,
    STATE_SUCCEEDED,
    Message,
)
from runner_settings import Settings
from wakeup import send_wakeup_async


async def deliberate(client: ModelClient, message: Message, cancel: asyncio.Event,
                     limits: Limits) -> dict[str, Any] | None:
    """Runs one attempt like the job does and returns its result, by the deadline whatever
    blocks: at print_by what is known is the result. A run cancelled meanwhile (cancel set)
    returns None at once, its calls cancelled: it has no result. An entry outside the runner's
    own limits is an unusable request: nothing is called."""
    try:
        request = parse_request(message.request)
    except RequestError as err:
        return unusable_request_result(message.request, str(err))
    now = time.time()
    deadline = message.deadline or now + request.timeout_seconds
    refusals = limits.refusals(request, deadline, message.callback, now, "the runner's")
    if refusals:
        log("error", "unusable request: " + "; ".join(refusals), request.deliberation_id)
        return unusable_request_result(message.request, "; ".join(refusals),
                                       name_agents=len(request.agents) <= limits.max_agents)
    budget = plan_budget(time.time(), deadline)
    progress = Progress(request.agents)
    run = asyncio.ensure_future(run_deliberation(client, request, budget, progress, cancelled=cancel.is_set))
    stopped = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({run, stopped}, timeout=max(0.0, budget.print_by - time.time()),
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        run.cancel()
    if cancel.is_set():
        return None
    error = "deadline reached"
    if run.done() and not run.cancelled() and run.exception() is not None:
        error = f"runner error ({type(run.exception()).__name__})"
        log("error", f"deliberation failed: {run.exception()!r}", request.deliberation_id)
    return progress.result(error)


def lost_result(message: Message, deliveries: int) -> dict[str, Any]:
    """Every agent fails with the reason: the attempt broke its replicas too often to try again."""
    why = f"the deliberation runner lost this attempt {deliveries} times"
    ids = best_effort_agent_ids(message.request) or [""]
    return build_result(tuple(Agent(agent_id, "", "") for agent_id in ids), {},
                        failed_scoring(""), why)


@dataclass
class Held:
    """An entry this replica holds: its attempt, its run, and the run's cancel."""
    attempt: str
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    running: bool = False  # past the start script: its marker is watched for a stop
    task: asyncio.Task[None] | None = None


def queue_wait(settings: Settings, message: Message, parent: Context | None,
               attributes: dict[str, str | int]) -> Context:
    """The span of the entry's time in the queue, from its enqueue (its id's time) to now; the
    context of the deliberation it leads to (one trace even when the entry brought none)."""
    span = tracing.start_span(tracing.QUEUE_WAIT, parent, SpanKind.CONSUMER, {
        **attributes, "messaging.system": "redis", "messaging.operation.type": "receive",
        "messaging.destination.name": settings.queue(message.shard, message.pool),
        "messaging.message.id": message.entry_id,
    }, start_time=message.enqueued_ns())
    span.end()
    return trace.set_span_in_context(span, parent)


async def process(client: redis.asyncio.Redis, settings: Settings, model: ModelClient | None,
                  wakeups: aiohttp.ClientSession | None, message: Message, deliveries: int, held: Held) -> None:
    """Runs the attempt of a message unless it must not run (no marker, stopped, a result already
    stored), gives it up past max_deliveries, then stores its result and acks its entry in one
    transaction and sends the finished wake-up; all of it the deliberation span."""
    deliberation_id = best_effort_deliberation_id(message.request)
    parent = tracing.remote_context(message.traceparent, message.tracestate)
    attributes: dict[str, str | int] = {tracing.DELIBERATION_ID: deliberation_id,
                                        tracing.SUBMISSION_ID: message.attempt, tracing.DELIVERIES: deliveries}
    waited = queue_wait(settings, message, parent, attributes)
    with tracing.TRACER.start_as_current_span(tracing.DELIBERATION, waited, attributes={
            **attributes, tracing.DISPATCH: "serve"}) as span:
        outcome = await run_attempt(client, settings, model, wakeups, message, deliveries, held, deliberation_id)
        span.set_attribute(tracing.OUTCOME, outcome)
        if outcome == STATE_FAILED:
            span.set_status(Status(StatusCode.ERROR, "no agent produced a proposal"))


async def run_attempt(client: redis.asyncio.Redis, settings: Settings, model: ModelClient | None,
                      wakeups: aiohttp.ClientSession | None, message: Message, deliveries: int,
                      held: Held, deliberation_id: str) -> str:
    """process's work; what became of the attempt: its result's state, or why it did not run."""
    attempt_key = settings.attempt_key(message.attempt, message.shard)
    result_key = settings.result_key(message.attempt, message.shard)
    started_ms = int(time.time() * 1000)
    if not message.attempt:
        await done(client, settings, message)
        return "no attempt"
    # One round trip: a result already stored means the attempt ran (its marker is RUNNING or
    # STOPPED, which the script leaves as it is).
    # EVAL, not a Script in a pipeline: that one asks SCRIPT EXISTS first, every time; the
    # server caches the compiled script by its hash anyway.
    pipe = client.pipeline(transaction=False)
    pipe.exists(result_key)
    pipe.eval(START_SCRIPT, 1, attempt_key, started_ms, STATE_FIELD, STARTED_AT_FIELD, STATE_PENDING,
              STATE_RUNNING, CLUSTER_FIELD, settings.cluster)
    stored, started = await pipe.execute()
    if stored or not started:
        # Finished elsewhere, stopped, or no longer wanted: running it again changes nothing.
        await done(client, settings, message)
        return "not run"
    infrastructure = deliveries > settings.max_deliveries
    result: dict[str, Any] | None
    if infrastructure:
        result = lost_result(message, deliveries - 1)
    else:
        assert model is not None
        held.running = True
        result = await deliberate(model, message, held.cancel, settings.limits())
        if result is None:
            # Cancelled: the functions recorded the outcome already; nothing is stored.
            await done(client, settings, message)
            return "cancelled"
    record = {
        "state": STATE_SUCCEEDED if exit_code(result) == EXIT_OK else STATE_FAILED,
        "infrastructure": infrastructure,
        "start_time": started_ms,
        "end_time": int(time.time() * 1000),
        "result": result,
        "cluster": settings.cluster,
    }
    stored_record = json.dumps(record, separators=(",", ":"), allow_nan=False)
    # Stored and acked in one MULTI: never acked without the result (a write Redis refuses,
    # out of memory, aborts the whole transaction), and one round trip instead of two.
    with tracing.TRACER.start_as_current_span(tracing.STORE_RESULT, kind=SpanKind.CLIENT, attributes={
            "db.system.name": "redis", "db.operation.name": "MULTI"}):
        pipe = client.pipeline(transaction=True)
        pipe.set(result_key, stored_record, ex=settings.result_ttl_s, nx=True)
        ack(pipe, settings, message)
        await pipe.execute()
    if wakeups is not None:
        # The runner's own wake-up target, never the entry's (refused above when it differs).
        await send_wakeup_async(wakeups, settings.callback_url, deliberation_id)
    return str(record["state"])


async def done(client: redis.asyncio.Redis, settings: Settings, message: Message) -> None:
    """Acks an entry that leaves no result."""
    pipe = client.pipeline(transaction=True)
    ack(pipe, settings, message)
    await pipe.execute()


def ack(pipe: redis.asyncio.client.Pipeline, settings: Settings, message: Message) -> None:
    # Acked and deleted: the stream holds only what is still to do, so it never needs trimming.
    queue = settings.queue(message.shard, message.pool)
    pipe.xack(queue, GROUP, message.entry_id)
    pipe.xdel(queue, message.entry_id)
