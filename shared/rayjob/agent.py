"""One agent's work: a coroutine returning a plain dict, so it runs the same in a Ray task of the
job (run_agent_in_task) and on the runner's event loop."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Status, StatusCode

import tracing
from limits import job_limits
from messages import log
from model_client import (
    CallError,
    ModelClient,
    call_with_retries,
    cap_answer,
    first_message,
    never_cancelled,
)
from model_keys import keys_from_environment
from prompts import chat_body, system_prompt, user_prompt
from request import Agent, Request

THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
REASONING_HEADING = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?\**[ \t]*reasoning[ \t]*\**[ \t]*:?[ \t]*\**[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
NEXT_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]", re.MULTILINE)


def agent_failure(agent_id: str, error: str) -> dict[str, Any]:
    return {"agent_id": agent_id, "ok": False, "error": error}


async def run_agent(client: ModelClient, request: Request, agent: Agent, until: float,
                    cancelled: Callable[[], bool] = never_cancelled) -> dict[str, Any]:
    """One agent's work, a span whose children are its calls. It never raises (but for its task's
    cancellation): every failure becomes a short message."""
    attributes = {tracing.DELIBERATION_ID: request.deliberation_id, tracing.AGENT_ID: agent.agent_id,
                  tracing.MODEL: agent.model}
    with tracing.TRACER.start_as_current_span(tracing.AGENT, attributes=attributes) as span:
        outcome = await agent_outcome(client, request, agent, until, cancelled)
        if not outcome["ok"]:
            span.set_status(Status(StatusCode.ERROR, outcome["error"]))
        return outcome


async def agent_outcome(client: ModelClient, request: Request, agent: Agent, until: float,
                        cancelled: Callable[[], bool]) -> dict[str, Any]:
    started = time.monotonic()
    body = chat_body(agent.model, system_prompt(agent.role), user_prompt(request, agent))

    def on_retry(problem: str, delay: float) -> None:
        log("warning", f"agent {agent.agent_id}: {problem}; retrying in {delay:.1f} s",
            request.deliberation_id)

    try:
        answer = await call_with_retries(client, request.chat_url, body, until, request.max_retries,
                                   None, on_retry,
                                   max_answer_bytes=request.max_answer_bytes, cancelled=cancelled)
        proposal, reasoning = split_reasoning(first_message(answer))
    except CallError as err:
        return agent_failure(agent.agent_id, str(err))
    except Exception as err:  # noqa: BLE001 - a bug must still end as this agent's failure
        return agent_failure(agent.agent_id, f"unexpected error ({type(err).__name__})")
    if not proposal:
        return agent_failure(agent.agent_id, "model answered with an empty proposal")
    # Cut after the split: a <think> block must be found in the whole content.
    proposal, proposal_cut = cap_answer(proposal, request.max_answer_bytes)
    reasoning, reasoning_cut = cap_answer(reasoning, request.max_answer_bytes)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    metadata = {"model": agent.model, "tokens": str(total_tokens(answer)),
                "duration_ms": str(elapsed_ms)}
    if proposal_cut or reasoning_cut:
        metadata["truncated"] = "true"
    return {
        "agent_id": agent.agent_id,
        "ok": True,
        "proposal": proposal,
        "reasoning": reasoning,
        "metadata": metadata,
    }


def run_agent_in_task(request: Request, agent: Agent, until: float, traceparent: str = "",
                      otel_env: dict[str, str] | None = None) -> dict[str, Any]:
    """The job's Ray task: one agent on an event loop and a client of its own, its span a child of
    the job's deliberation span (traceparent), exported before the task returns. otel_env is the
    driver's OTEL_* settings, for a worker whose node's environment has none. The model keys are
    those of its own process's environment (the Ray pods' Secret; the job's allowed origins reach
    it in the job's runtime_env), never passed through Ray: task arguments are stored in the cluster."""
    keys = keys_from_environment(job_limits(os.environ).allowed_origins)

    async def run() -> dict[str, Any]:
        client = ModelClient(keys=keys)
        try:
            return await run_agent(client, request, agent, until)
        finally:
            await client.close()

    for name, value in (otel_env or {}).items():
        os.environ.setdefault(name, value)
    traced = tracing.start_tracing(tracing.JOB_SERVICE)
    parent = tracing.remote_context(traceparent)
    token = otel_context.attach(parent) if parent is not None else None
    try:
        return asyncio.run(run())
    finally:
        if token is not None:
            otel_context.detach(token)
        if traced:
            tracing.flush()


def split_reasoning(message: dict[str, Any]) -> tuple[str, str]:
    """Proposal and reasoning of an answer. Reasoning is, in this order: the server's separate
    reasoning field (vLLM's reasoning parsers), a <think> block (removed from the proposal), a
    section headed "Reasoning" (kept in the proposal too), or empty."""
    content = str(message.get("content") or "")
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    reasoning = reasoning if isinstance(reasoning, str) else ""
    think = THINK_BLOCK.search(content)
    if think:
        content = (content[: think.start()] + content[think.end():])
        reasoning = reasoning or think.group(1)
    if not reasoning.strip():
        reasoning = reasoning_section(content)
    return content.strip(), reasoning.strip()


def reasoning_section(content: str) -> str:
    heading = REASONING_HEADING.search(content)
    if not heading:
        return ""
    rest = content[heading.end():]
    following = NEXT_HEADING.search(rest)
    return rest[: following.start()] if following else rest


def total_tokens(answer: dict[str, Any]) -> int:
    usage = answer.get("usage")
    value = usage.get("total_tokens") if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
