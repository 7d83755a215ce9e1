"""Deliberation job: the program a Ray job runs for one deliberation.

N agents answer the same task in parallel (one Ray task each, its call a coroutine of the shared
async model client) against an OpenAI-compatible model server, one judge call scores their
proposals, and the job prints one line ``RAY_EXECUTOR_RESULT v1 <json>`` that the Ray executor
functions read back from the job's logs. The line is printed in every case (also when every agent
failed or the job broke), before the deadline the functions gave the job, so a failure is recorded
with its reasons.

Inputs (environment): RAY_EXECUTOR_REQUEST (the validated request as JSON, with its optional
``policy``: ``allowed_origins`` and ``max_answer_bytes``), RAY_EXECUTOR_DEADLINE_UNIX (unix
seconds), RAY_EXECUTOR_CALLBACK_URL (optional wake-up target), the job's own limits
(RAY_EXECUTOR_ALLOWED_ORIGINS, RAY_EXECUTOR_MAX_AGENTS, RAY_EXECUTOR_MAX_ANSWER_BYTES,
RAY_EXECUTOR_MAX_TIMEOUT_S: limits.py; a request outside them is unusable), the model servers'
keys bound to their origins (VLLM_API_KEYS, VLLM_API_KEYS_FILE, or VLLM_API_KEY for one origin:
model_keys.py), from the Ray cluster's own environment, never printed, TRACEPARENT/TRACESTATE (the
functions' submit span, which the job's spans continue) and the OpenTelemetry SDK's OTEL_* variables
(tracing.py).
Exit code: 0 when at least one agent produced a proposal, 3 otherwise.

The model server path is closed: the job calls ``<vllm_url>/v1/chat/completions`` and nothing else
(vllm_url must be ``scheme://host[:port][/base]``), only when vllm_url's canonical origin is in the
policy's allowed origins (when the request has a policy) and in the job's own, never follows a redirect (so the key
never leaves that origin), reads a bounded part of an answer and cuts proposal and reasoning to
``max_answer_bytes``, and keeps terminal escapes and control characters out of every error message
it reports.

This file is the entry point Ray runs (``python deliberation_job.py``) from the working_dir package
of shared/rayjob: the request (request.py, policy.py), the model client (model_client.py), the
prompts (prompts.py), the agents (agent.py), the judge (judge.py), the result (result.py) and the
run (deliberation.py) are the modules beside it. Standard library, ``ray``, ``aiohttp`` (which
``ray[default]`` ships for the dashboard), ``idna`` (which Ray's own ``requests`` requires) and the
OpenTelemetry API and SDK (which ``ray[default]`` ships too) only, Python >= 3.10, so a stock Ray
image runs it; its OTLP exporter is the one package more tracing needs (without it the job runs
untraced).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import traceback

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

import tracing
from deliberation import Budget, Progress, plan_budget, run_agents_as_ray_tasks, run_deliberation
from limits import Limits, job_limits
from messages import log
from model_client import ModelClient
from model_keys import Keys, KeysError, keys_from_environment
from request import (
    ENV_DEADLINE,
    ENV_REQUEST,
    Request,
    RequestError,
    best_effort_deliberation_id,
    parse_deadline,
    parse_request,
)
from result import EXIT_NO_PROPOSAL, ResultPrinter, exit_code, unusable_request_result
from wakeup import send_wakeup

ENV_CALLBACK = "RAY_EXECUTOR_CALLBACK_URL"
WATCHDOG_MARGIN_S = 0.5
# What the watchdog gives the spans before it ends the process, within its margin.
WATCHDOG_FLUSH_MS = 250


def start_watchdog(request: Request, deadline: float, printer: ResultPrinter,
                   progress: Progress) -> threading.Timer:
    """Last resort for whatever blocks past the budget (a hung ray.init, a stuck call): print what
    is known just before the deadline and end the process."""

    def fire() -> None:
        result = progress.result("deadline reached")
        if printer.print_once(result):
            log("error", "deadline reached before the job finished", request.deliberation_id)
            send_wakeup(os.environ.get(ENV_CALLBACK, ""), request.deliberation_id)
            tracing.flush(WATCHDOG_FLUSH_MS)
            sys.stderr.flush()
            os._exit(exit_code(result))

    timer = threading.Timer(max(0.0, deadline - WATCHDOG_MARGIN_S - time.time()), fire)
    timer.daemon = True
    timer.start()
    return timer


async def run(request: Request, budget: Budget, progress: Progress, keys: Keys) -> None:
    """The agents as Ray tasks, then the judge from here, on one client closed at the end."""
    client = ModelClient(keys=keys)
    try:
        await run_deliberation(client, request, budget, progress, run_agents_as_ray_tasks)
    finally:
        await client.close()


def main() -> int:
    """The job, the deliberation span (a child of the functions' submit span) around it."""
    traced = tracing.start_tracing(tracing.JOB_SERVICE)
    span = tracing.start_span(tracing.DELIBERATION, tracing.env_context(os.environ),
                              attributes={tracing.DISPATCH: "jobs"})
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        code = run_job(span)
        span.set_attribute(tracing.OUTCOME, "SUCCEEDED" if code == 0 else "FAILED")
        if code != 0:
            span.set_status(Status(StatusCode.ERROR, "no agent produced a proposal"))
        return code
    finally:
        otel_context.detach(token)
        span.end()
        if traced:
            tracing.flush()


def run_job(span: Span) -> int:
    started = time.time()
    printer = ResultPrinter(sys.stdout)
    raw = os.environ.get(ENV_REQUEST)
    callback = os.environ.get(ENV_CALLBACK, "")
    limits = Limits()
    name_agents = True
    try:
        try:
            limits = job_limits(os.environ)
            keys = keys_from_environment(limits.allowed_origins)
        except (ValueError, KeysError) as err:
            raise RequestError(str(err)) from None
        callback = limits.callback_url
        request = parse_request(raw)
        deadline = parse_deadline(os.environ.get(ENV_DEADLINE), request, started)
        refusals = limits.refusals(request, deadline, "", started, "the job's")
        if refusals:
            name_agents = len(request.agents) <= limits.max_agents
            raise RequestError("; ".join(refusals))
    except RequestError as err:
        deliberation_id = best_effort_deliberation_id(raw)
        span.set_attribute(tracing.DELIBERATION_ID, deliberation_id)
        log("error", f"unusable request: {err}", deliberation_id)
        result = unusable_request_result(raw, str(err), name_agents)
        printer.print_once(result)
        send_wakeup(callback, deliberation_id)
        return EXIT_NO_PROPOSAL
    span.set_attributes({tracing.DELIBERATION_ID: request.deliberation_id, tracing.AGENTS: len(request.agents)})
    progress = Progress(request.agents)
    watchdog = start_watchdog(request, deadline, printer, progress)
    pending_error = "deadline reached"
    try:
        asyncio.run(run(request, plan_budget(time.time(), deadline), progress, keys))
    except Exception as err:  # noqa: BLE001 - the result line must come out whatever broke
        traceback.print_exc(file=sys.stderr)
        pending_error = f"job error ({type(err).__name__})"
    result = progress.result(pending_error)
    if not printer.print_once(result):
        # The watchdog printed first and is ending the process with its own exit code.
        threading.Event().wait()
    watchdog.cancel()
    send_wakeup(callback, request.deliberation_id)
    return exit_code(result)


if __name__ == "__main__":
    sys.exit(main())
