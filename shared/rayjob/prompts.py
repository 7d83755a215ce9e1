"""What the agents and the judge are asked: system and user prompts, the request's prompt
templates, and the judge's prompt with every proposal cut to its share of the context window."""

from __future__ import annotations

import re
from typing import Any

from request import Agent, Request

TEMPERATURE = 0.7
MAX_TOKENS = 2048

# The judge sees every proposal at once: each is cut to its share of a prompt budget that fits a
# common 16k-token context window, but never below a floor that keeps a proposal judgeable.
PROPOSAL_LIMIT = 6000
PROPOSAL_FLOOR = 1000
JUDGE_PROMPT_BUDGET = 48000
TASK_LIMIT = 8000
TRUNCATION_MARKER = "\n[... truncated by the deliberation job: {cut} of {total} characters omitted]"

ROLE_PROMPTS = {
    "DEV": (
        "You are an expert software developer. You write clean, maintainable, "
        "well-tested code and explain the design choices behind it."
    ),
    "QA": (
        "You are an expert QA engineer. You focus on testing strategies, edge cases "
        "and the bugs a change could introduce."
    ),
    "ARCHITECT": (
        "You are an expert software architect. You focus on system design, scalability "
        "and the patterns that keep a system evolvable."
    ),
    "DEVOPS": (
        "You are an expert DevOps engineer. You focus on deployment, CI/CD pipelines "
        "and operational reliability."
    ),
    "DATA": (
        "You are an expert data engineer. You focus on data pipelines, ETL and data quality."
    ),
}

JUDGE_SYSTEM_PROMPT = (
    "You are an impartial reviewer of software engineering proposals. Score every proposal "
    "exactly once, from 0.0 (unusable) to 1.0 (excellent), for how correct, complete and "
    "well-reasoned it is for the task, with a one-sentence rationale. Answer only with JSON."
)

TEMPLATE_TOKEN = re.compile(r"\{(task|role|task_id|story_id)\}")


def system_prompt(role: str) -> str:
    return ROLE_PROMPTS.get(role.upper(), f"You are an expert {role} engineer.")


def user_prompt(request: Request, agent: Agent) -> str:
    if agent.prompt_template.strip():
        return render_template(agent.prompt_template, request, agent)
    return request.task_description + context_block(request.metadata)


def context_block(metadata: tuple[tuple[str, str], ...]) -> str:
    if not metadata:
        return ""
    lines = "\n".join(f"- {key}: {value}" for key, value in metadata)
    return f"\n\nContext:\n{lines}"


def render_template(template: str, request: Request, agent: Agent) -> str:
    """Replaces the four tokens literally. One pass, so a value that itself contains a token
    (a task quoting "{role}") is not substituted again, and no str.format: braces in code stay."""
    values = {
        "task": request.task_description,
        "role": agent.role,
        "task_id": request.task_id,
        "story_id": request.story_id,
    }
    return TEMPLATE_TOKEN.sub(lambda match: values[match.group(1)], template)


def chat_body(model: str, system: str, user: str) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "temperature": TEMPERATURE,
        "max_tokens": MAX_TOKENS,
    }


def truncate(text: str, limit: int) -> str:
    """Cuts text to at most limit characters, marker included, saying how much was cut."""
    if len(text) <= limit:
        return text
    marker = TRUNCATION_MARKER.format(cut=len(text), total=len(text))
    keep = max(0, limit - len(marker))
    marker = TRUNCATION_MARKER.format(cut=len(text) - keep, total=len(text))
    return text[:keep] + marker


def proposal_limit(count: int) -> int:
    return max(PROPOSAL_FLOOR, min(PROPOSAL_LIMIT, JUDGE_PROMPT_BUDGET // max(count, 1)))


def judge_schema(agent_ids: list[str]) -> dict[str, Any]:
    item = {
        "type": "object",
        "properties": {
            "agent_id": {"type": "string", "enum": agent_ids},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string"},
        },
        "required": ["agent_id", "score", "rationale"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"scores": {"type": "array", "items": item,
                                  "minItems": len(agent_ids), "maxItems": len(agent_ids)}},
        "required": ["scores"],
        "additionalProperties": False,
    }


def judge_prompt(request: Request, proposals: list[tuple[Agent, str]]) -> str:
    limit = proposal_limit(len(proposals))
    parts = [f"Task:\n{truncate(request.task_description, TASK_LIMIT)}\n\nProposals:"]
    for agent, proposal in proposals:
        parts.append(f'<proposal agent_id="{agent.agent_id}" role="{agent.role}">\n'
                     f"{truncate(proposal, limit)}\n</proposal>")
    parts.append("Score every proposal by its agent_id.")
    return "\n\n".join(parts)


def judge_body(request: Request, proposals: list[tuple[Agent, str]]) -> dict[str, Any]:
    ids = [agent.agent_id for agent, _ in proposals]
    return {
        "model": request.vllm_model,
        "messages": [{"role": "system", "content": JUDGE_SYSTEM_PROMPT},
                     {"role": "user", "content": judge_prompt(request, proposals)}],
        "temperature": 0.0,
        "max_tokens": min(4096, 256 + 200 * len(ids)),
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "scores", "strict": True, "schema": judge_schema(ids)}},
    }
