"""The request of one deliberation (RAY_EXECUTOR_REQUEST) and its deadline, parsed into immutable
values; what an unusable request still names (its deliberation and agent ids) is read best-effort.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from fields import int_in, optional_string, string_field
from policy import model_server, parse_policy

ENV_REQUEST = "RAY_EXECUTOR_REQUEST"
ENV_DEADLINE = "RAY_EXECUTOR_DEADLINE_UNIX"

DEFAULT_TIMEOUT_SECONDS = 300
DEFAULT_MAX_RETRIES = 3


class RequestError(ValueError):
    """The job cannot work with what it was given."""


@dataclass(frozen=True)
class Agent:
    agent_id: str
    role: str
    model: str
    prompt_template: str = ""


@dataclass(frozen=True)
class Request:
    deliberation_id: str
    task_id: str
    task_description: str
    role: str
    story_id: str
    timeout_seconds: int
    max_retries: int
    metadata: tuple[tuple[str, str], ...]
    agents: tuple[Agent, ...]
    vllm_url: str  # as given, for reading only: calls go to chat_url
    vllm_model: str
    chat_url: str  # the one URL the job calls: vllm_url's canonical origin + base + CHAT_PATH
    max_answer_bytes: int
    origin: str = ""  # vllm_url's canonical origin: what the own limits allow, and whose key goes
    pool: str = ""  # the pool the functions queued it on ("" : the default pool); informative here


def parse_request(raw: str | None) -> Request:
    """Parses RAY_EXECUTOR_REQUEST. The functions validated it; this only guards what the job
    relies on, so a broken manual run fails with a clear message instead of a traceback."""
    if not raw:
        raise RequestError(f"{ENV_REQUEST} is not set")
    try:
        doc = json.loads(raw)
    except ValueError:
        raise RequestError(f"{ENV_REQUEST} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise RequestError(f"{ENV_REQUEST} is not a JSON object")
    problems: list[str] = []
    text = {key: string_field(doc, key, problems) for key in (
        "deliberation_id", "task_id", "task_description", "role", "vllm_url", "vllm_model")}
    policy = parse_policy(doc.get("policy"), problems)
    target = model_server(text["vllm_url"], policy, problems) if text["vllm_url"] else None
    constraints = doc.get("constraints") or {}
    if not isinstance(constraints, dict):
        problems.append("constraints is not an object")
        constraints = {}
    agents = _parse_agents(doc.get("agents"), problems)
    request = Request(
        deliberation_id=text["deliberation_id"],
        task_id=text["task_id"],
        task_description=text["task_description"],
        role=text["role"],
        story_id=optional_string(constraints, "story_id", problems),
        timeout_seconds=int_in(constraints, "timeout_seconds", DEFAULT_TIMEOUT_SECONDS, 1, None, problems),
        max_retries=int_in(constraints, "max_retries", DEFAULT_MAX_RETRIES, 0, 10, problems),
        metadata=_parse_metadata(constraints.get("metadata"), problems),
        agents=agents,
        vllm_url=text["vllm_url"].rstrip("/"),
        vllm_model=text["vllm_model"],
        chat_url=target.chat_url if target else "",
        max_answer_bytes=policy.max_answer_bytes,
        origin=target.origin if target else "",
        pool=optional_string(doc, "pool", problems),
    )
    if problems:
        raise RequestError("; ".join(problems))
    return request


def _parse_metadata(value: Any, problems: list[str]) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        problems.append("metadata is not a string map")
        return ()
    return tuple(sorted(value.items()))


def _parse_agents(value: Any, problems: list[str]) -> tuple[Agent, ...]:
    if not isinstance(value, list) or not value:
        problems.append("agents is missing")
        return ()
    agents: list[Agent] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            problems.append(f"agents[{index}] is not an object")
            continue
        fields = {key: string_field(item, key, problems, f"agents[{index}].")
                  for key in ("agent_id", "role", "model")}
        template = optional_string(item, "prompt_template", problems)
        agents.append(Agent(prompt_template=template, **fields))
    ids = [agent.agent_id for agent in agents]
    duplicates = sorted({agent_id for agent_id in ids if ids.count(agent_id) > 1})
    if duplicates:
        problems.append(f"duplicate agent_id {', '.join(duplicates)}")
    return tuple(agents)


def best_effort_deliberation_id(raw: str | None) -> str:
    """The deliberation id of an unusable request, if it can be read, so the wake-up still
    names the deliberation."""
    try:
        doc = json.loads(raw or "")
    except ValueError:
        return ""
    value = doc.get("deliberation_id") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else ""


def best_effort_agent_ids(raw: str | None) -> list[str]:
    """The agent ids of an unusable request, so its failure is still reported per agent."""
    try:
        doc = json.loads(raw or "")
    except ValueError:
        return []
    agents = doc.get("agents") if isinstance(doc, dict) else None
    if not isinstance(agents, list):
        return []
    ids: list[str] = []
    for item in agents:
        agent_id = item.get("agent_id") if isinstance(item, dict) else None
        if isinstance(agent_id, str) and agent_id.strip() and agent_id not in ids:
            ids.append(agent_id)
    return ids


def parse_deadline(raw: str | None, request: Request, now: float) -> float:
    """The absolute deadline. Without one (a manual run) the request's own timeout applies."""
    if raw is None or not raw.strip():
        return now + request.timeout_seconds
    try:
        deadline = float(raw)
    except ValueError:
        raise RequestError(f"{ENV_DEADLINE} is not a number") from None
    if not math.isfinite(deadline):
        raise RequestError(f"{ENV_DEADLINE} is not a number")
    return deadline
