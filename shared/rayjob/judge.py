"""The judge: one call scores every proposal, and its answer is used only when it scores every
agent exactly once with a number in [0, 1]; any other answer zeroes every score and says why."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Status, StatusCode

import tracing
from messages import log, one_line
from model_client import CallError, ModelClient, call_with_retries, first_message, never_cancelled
from prompts import judge_body
from request import Agent, Request

CODE_FENCE = re.compile(r"^```[a-zA-Z]*\n(.*)\n```$", re.DOTALL)


@dataclass(frozen=True)
class Scoring:
    scores: dict[str, float]
    rationales: dict[str, str]
    error: str = ""


class ScoringError(ValueError):
    """The judge's answer cannot be used; the message says why."""


def parse_scores(content: str, agent_ids: list[str]) -> Scoring:
    """Validates the judge's answer: every agent scored exactly once with a number in [0, 1].
    Anything else is an error, never a default score."""
    fenced = CODE_FENCE.match(content.strip())
    try:
        doc = json.loads(fenced.group(1) if fenced else content)
    except ValueError:
        raise ScoringError("judge answered invalid JSON") from None
    items = doc.get("scores") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ScoringError("judge answer has no scores list")
    scores: dict[str, float] = {}
    rationales: dict[str, str] = {}
    for item in items:
        agent_id, score, rationale = _score_item(item, agent_ids)
        if agent_id in scores:
            raise ScoringError(f"judge scored agent {agent_id} twice")
        scores[agent_id] = score
        rationales[agent_id] = rationale
    missing = [agent_id for agent_id in agent_ids if agent_id not in scores]
    if missing:
        raise ScoringError(f"judge did not score agent {', '.join(missing)}")
    return Scoring(scores, rationales)


def _score_item(item: Any, agent_ids: list[str]) -> tuple[str, float, str]:
    if not isinstance(item, dict):
        raise ScoringError("judge answer has a score that is not an object")
    agent_id = item.get("agent_id")
    if not isinstance(agent_id, str) or agent_id not in agent_ids:
        raise ScoringError(f"judge scored unknown agent {one_line(str(agent_id))[:64]}")
    return agent_id, validate_score(agent_id, item.get("score")), _rationale(item)


def validate_score(agent_id: str, value: Any) -> float:
    """A score in [0, 1]; float noise just outside (1.0000000001) is clamped, anything further
    out is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScoringError(f"judge gave agent {agent_id} a score that is not a number")
    if value < -1e-9 or value > 1 + 1e-9:
        raise ScoringError(f"judge gave agent {agent_id} score {value}, outside [0, 1]")
    return min(1.0, max(0.0, float(value)))


def _rationale(item: dict[str, Any]) -> str:
    rationale = item.get("rationale")
    return one_line(rationale) if isinstance(rationale, str) else ""


async def score_proposals(client: ModelClient, request: Request, proposals: list[tuple[Agent, str]],
                          until: float, cancelled: Callable[[], bool] = never_cancelled) -> Scoring:
    """One judge call for all proposals, a span whose children are its calls; any failure zeroes
    every score and says why."""
    attributes: dict[str, str | int] = {tracing.DELIBERATION_ID: request.deliberation_id,
                                        tracing.AGENTS: len(proposals), tracing.MODEL: request.vllm_model}
    with tracing.TRACER.start_as_current_span(tracing.JUDGE, attributes=attributes) as span:
        scoring = await judge_scoring(client, request, proposals, until, cancelled)
        if scoring.error:
            span.set_status(Status(StatusCode.ERROR, scoring.error))
        return scoring


async def judge_scoring(client: ModelClient, request: Request, proposals: list[tuple[Agent, str]],
                        until: float, cancelled: Callable[[], bool]) -> Scoring:
    ids = [agent.agent_id for agent, _ in proposals]

    def on_retry(problem: str, delay: float) -> None:
        log("warning", f"judge: {problem}; retrying in {delay:.1f} s", request.deliberation_id)

    try:
        answer = await call_with_retries(client, request.chat_url, judge_body(request, proposals),
                                         until, request.max_retries, None, on_retry,
                                         max_answer_bytes=request.max_answer_bytes, cancelled=cancelled)
        return parse_scores(first_message(answer)["content"], ids)
    except CallError as err:
        return failed_scoring(f"judge failed: {err}")
    except ScoringError as err:
        return failed_scoring(str(err))


def failed_scoring(error: str) -> Scoring:
    return Scoring({}, {}, error)
