"""Deliberation job: the program a Ray job runs for one deliberation.

N agents answer the same task in parallel (one Ray task each) against an OpenAI-compatible model
server, one judge call scores their proposals, and the job prints one line
``RAY_EXECUTOR_RESULT v1 <json>`` that the Ray executor functions read back from the job's logs.
The line is printed in every case (also when every agent failed or the job broke), before the
deadline the functions gave the job, so a failure is recorded with its reasons.

Inputs (environment): RAY_EXECUTOR_REQUEST (the validated request as JSON),
RAY_EXECUTOR_DEADLINE_UNIX (unix seconds), RAY_EXECUTOR_CALLBACK_URL (optional wake-up target),
VLLM_API_KEY (optional, from the Ray cluster's own environment, never printed).
Exit code: 0 when at least one agent produced a proposal, 3 otherwise.

Standard library and ``ray`` only, Python >= 3.10, so a stock Ray image runs it.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import re
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, TextIO

import ray

RESULT_PREFIX = "RAY_EXECUTOR_RESULT v1 "
EXIT_OK = 0
EXIT_NO_PROPOSAL = 3

ENV_REQUEST = "RAY_EXECUTOR_REQUEST"
ENV_DEADLINE = "RAY_EXECUTOR_DEADLINE_UNIX"
ENV_CALLBACK = "RAY_EXECUTOR_CALLBACK_URL"
ENV_API_KEY = "VLLM_API_KEY"

CHAT_PATH = "/v1/chat/completions"
TEMPERATURE = 0.7
MAX_TOKENS = 2048
DEFAULT_TIMEOUT_SECONDS = 300
DEFAULT_MAX_RETRIES = 3

# Deadline budget. The result line must be out PRINT_MARGIN_S before the deadline; the last part
# of the time left is kept for the judge so a stalled agent cannot starve scoring.
PRINT_MARGIN_S = 1.0
WATCHDOG_MARGIN_S = 0.5
JUDGE_SHARE = 0.2
JUDGE_RESERVE_MIN_S = 1.0
JUDGE_RESERVE_MAX_S = 60.0
AGENT_GRACE_S = 0.5
MIN_CALL_S = 0.2

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0

# The judge sees every proposal at once: each is cut to its share of a prompt budget that fits a
# common 16k-token context window, but never below a floor that keeps a proposal judgeable.
PROPOSAL_LIMIT = 6000
PROPOSAL_FLOOR = 1000
JUDGE_PROMPT_BUDGET = 48000
TASK_LIMIT = 8000
TRUNCATION_MARKER = "\n[... truncated by the deliberation job: {cut} of {total} characters omitted]"

ERROR_SNIPPET_LIMIT = 200
CALLBACK_TIMEOUT_S = 2.0
FINISHED_EVENT_TYPE = "dev.rayexecutor.deliberation.finished.v1"
FINISHED_EVENT_SOURCE = "/ray-executor/job"

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
THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
REASONING_HEADING = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?\**[ \t]*reasoning[ \t]*\**[ \t]*:?[ \t]*\**[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
NEXT_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]", re.MULTILINE)
CODE_FENCE = re.compile(r"^```[a-zA-Z]*\n(.*)\n```$", re.DOTALL)


# ---------------------------------------------------------------------------------------------
# Request


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
    vllm_url: str
    vllm_model: str


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
    text = {key: _string(doc, key, problems) for key in (
        "deliberation_id", "task_id", "task_description", "role", "vllm_url", "vllm_model")}
    if text["vllm_url"] and not _is_http_url(text["vllm_url"]):
        problems.append("vllm_url is not an http(s) URL")
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
        story_id=_optional_string(constraints, "story_id", problems),
        timeout_seconds=_int_in(constraints, "timeout_seconds", DEFAULT_TIMEOUT_SECONDS, 1, None, problems),
        max_retries=_int_in(constraints, "max_retries", DEFAULT_MAX_RETRIES, 0, 10, problems),
        metadata=_parse_metadata(constraints.get("metadata"), problems),
        agents=agents,
        vllm_url=text["vllm_url"].rstrip("/"),
        vllm_model=text["vllm_model"],
    )
    if problems:
        raise RequestError("; ".join(problems))
    return request


def _string(doc: dict[str, Any], key: str, problems: list[str], path: str = "") -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path}{key} is missing")
        return ""
    return value


def _optional_string(doc: dict[str, Any], key: str, problems: list[str]) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(f"{key} is not a string")
        return ""
    return value


def _int_in(doc: dict[str, Any], key: str, default: int, low: int, high: int | None,
            problems: list[str]) -> int:
    value = doc.get(key)
    if value is None:
        return default
    # bool is an int in Python; a JSON true is not a count.
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
            high is not None and value > high):
        problems.append(f"{key} is out of range")
        return default
    return value


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
        fields = {key: _string(item, key, problems, f"agents[{index}].")
                  for key in ("agent_id", "role", "model")}
        template = _optional_string(item, "prompt_template", problems)
        agents.append(Agent(prompt_template=template, **fields))
    ids = [agent.agent_id for agent in agents]
    duplicates = sorted({agent_id for agent_id in ids if ids.count(agent_id) > 1})
    if duplicates:
        problems.append(f"duplicate agent_id {', '.join(duplicates)}")
    return tuple(agents)


def _is_http_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


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


# ---------------------------------------------------------------------------------------------
# Prompts


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


# ---------------------------------------------------------------------------------------------
# Model server calls


class AttemptError(Exception):
    """One call failed; transient failures are worth another attempt."""

    def __init__(self, problem: str, transient: bool, retry_after: float = 0.0) -> None:
        super().__init__(problem)
        self.problem = problem
        self.transient = transient
        self.retry_after = retry_after


class CallFailed(Exception):
    """A call failed for good; the message is short, secret-free and says what happened."""


def post_json(url: str, body: dict[str, Any], timeout: float, api_key: str) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as err:
        raise http_error(err) from None
    except TimeoutError:
        raise AttemptError("model server timed out", True) from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise AttemptError("model server timed out", True) from None
        raise AttemptError(f"cannot reach model server ({_reason(err.reason)})", True) from None
    except (OSError, http.client.HTTPException) as err:
        raise AttemptError(f"connection to model server failed ({_reason(err)})", True) from None
    try:
        answer = json.loads(payload)
    except ValueError:
        raise AttemptError("model server answered invalid JSON", False) from None
    if not isinstance(answer, dict):
        raise AttemptError("model server answered invalid JSON", False)
    return answer


def http_error(err: urllib.error.HTTPError) -> AttemptError:
    code = err.code
    transient = code in (408, 429) or code >= 500
    problem = f"model server answered {code}"
    if not transient:
        # A 4xx is final, and its message (unknown model, context too long) is what a caller
        # needs to fix the request; it is cut short and kept on one line.
        detail = _error_detail(err)
        if detail:
            problem = f"{problem}: {detail}"
    return AttemptError(problem, transient, _retry_after(err.headers.get("Retry-After")))


def _error_detail(err: urllib.error.HTTPError) -> str:
    try:
        raw = err.read(4096).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
    try:
        doc = json.loads(raw)
    except ValueError:
        return _one_line(raw)
    if isinstance(doc, dict):
        error = doc.get("error", doc)
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str):
            return _one_line(message)
    return _one_line(raw)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= ERROR_SNIPPET_LIMIT else flat[: ERROR_SNIPPET_LIMIT - 3] + "..."


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return _one_line(reason.strerror)
    return _one_line(str(reason)) or type(reason).__name__


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value else 0.0
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def backoff_delay(attempt: int, retry_after: float, rng: Callable[[], float]) -> float:
    """Exponential backoff with jitter (half fixed, half random), raised to the server's
    Retry-After when it asks for longer, never beyond the cap."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    delay = ceiling / 2 + rng() * ceiling / 2
    return min(BACKOFF_CAP_S, max(delay, retry_after))


def attempts_phrase(attempts: int) -> str:
    return f"after {attempts} attempt" + ("" if attempts == 1 else "s")


def deadline_message(attempts: int, last: AttemptError | None) -> str:
    if attempts == 0 or last is None:
        return "deadline reached"
    return f"deadline reached {attempts_phrase(attempts)} (last: {last.problem})"


def call_with_retries(url: str, body: dict[str, Any], until: float, max_retries: int,
                      api_key: str, on_retry: Callable[[str, float], None] = lambda p, d: None,
                      sleep: Callable[[float], None] = time.sleep,
                      rng: Callable[[], float] = random.random) -> dict[str, Any]:
    """Posts body until it succeeds, a failure is not transient, 1 + max_retries attempts were
    made, or until (unix seconds) comes: each attempt's timeout is the time left."""
    attempts = 0
    last: AttemptError | None = None
    while True:
        left = until - time.time()
        if left < MIN_CALL_S:
            raise CallFailed(deadline_message(attempts, last))
        attempts += 1
        try:
            return post_json(url, body, left, api_key)
        except AttemptError as err:
            last = err
        if not last.transient:
            raise CallFailed(last.problem if attempts == 1
                             else f"{last.problem} {attempts_phrase(attempts)}")
        if attempts > max_retries:
            raise CallFailed(f"{last.problem} {attempts_phrase(attempts)}")
        delay = backoff_delay(attempts, last.retry_after, rng)
        if time.time() + delay + MIN_CALL_S > until:
            raise CallFailed(deadline_message(attempts, last))
        on_retry(last.problem, delay)
        sleep(delay)


def first_message(answer: dict[str, Any]) -> dict[str, Any]:
    choices = answer.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            return message
    raise CallFailed("model server answered without a message")


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


# ---------------------------------------------------------------------------------------------
# One agent (runs as a Ray task)


def agent_failure(agent_id: str, error: str) -> dict[str, Any]:
    return {"agent_id": agent_id, "ok": False, "error": error}


def run_agent(request: Request, agent: Agent, until: float) -> dict[str, Any]:
    """One agent's work: a plain function returning a plain dict, so it runs the same as a Ray
    task and in a unit test. It never raises: every failure becomes a short message."""
    started = time.monotonic()
    body = chat_body(agent.model, system_prompt(agent.role), user_prompt(request, agent))

    def on_retry(problem: str, delay: float) -> None:
        log("warning", f"agent {agent.agent_id}: {problem}; retrying in {delay:.1f} s",
            request.deliberation_id)

    try:
        answer = call_with_retries(request.vllm_url + CHAT_PATH, body, until,
                                   request.max_retries, os.environ.get(ENV_API_KEY, ""), on_retry)
        proposal, reasoning = split_reasoning(first_message(answer))
    except CallFailed as err:
        return agent_failure(agent.agent_id, str(err))
    except Exception as err:  # noqa: BLE001 - a bug must still end as this agent's failure
        return agent_failure(agent.agent_id, f"unexpected error ({type(err).__name__})")
    if not proposal:
        return agent_failure(agent.agent_id, "model answered with an empty proposal")
    elapsed_ms = int((time.monotonic() - started) * 1000)
    return {
        "agent_id": agent.agent_id,
        "ok": True,
        "proposal": proposal,
        "reasoning": reasoning,
        "metadata": {"model": agent.model, "tokens": str(total_tokens(answer)),
                     "duration_ms": str(elapsed_ms)},
    }


# ---------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class Scoring:
    scores: dict[str, float]
    rationales: dict[str, str]
    error: str = ""


class ScoringError(ValueError):
    """The judge's answer cannot be used; the message says why."""


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
        raise ScoringError(f"judge scored unknown agent {_one_line(str(agent_id))[:64]}")
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
    return _one_line(rationale) if isinstance(rationale, str) else ""


def score_proposals(request: Request, proposals: list[tuple[Agent, str]],
                    until: float) -> Scoring:
    """One judge call for all proposals; any failure zeroes every score and says why."""
    ids = [agent.agent_id for agent, _ in proposals]

    def on_retry(problem: str, delay: float) -> None:
        log("warning", f"judge: {problem}; retrying in {delay:.1f} s", request.deliberation_id)

    try:
        answer = call_with_retries(request.vllm_url + CHAT_PATH, judge_body(request, proposals),
                                   until, request.max_retries, os.environ.get(ENV_API_KEY, ""),
                                   on_retry)
        return parse_scores(first_message(answer)["content"], ids)
    except CallFailed as err:
        return failed_scoring(f"judge failed: {err}")
    except ScoringError as err:
        return failed_scoring(str(err))


def failed_scoring(error: str) -> Scoring:
    return Scoring({}, {}, error)


# ---------------------------------------------------------------------------------------------
# Result


def build_result(agents: tuple[Agent, ...], outcomes: dict[str, dict[str, Any]],
                 scoring: Scoring | None, pending_error: str) -> dict[str, Any]:
    """The result of docs/ray.md, in the request's agent order. Agents without an outcome failed with
    pending_error; proposals without a valid scoring all score 0 with the reason."""
    if scoring is None:
        scoring = failed_scoring("deadline reached before scoring")
    results: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    for agent in agents:
        outcome = outcomes.get(agent.agent_id)
        if outcome is None or not outcome.get("ok"):
            error = outcome.get("error", pending_error) if outcome else pending_error
            failures.append({"agent_id": agent.agent_id, "error": error})
            continue
        results.append(agent_result(outcome, scoring))
    return {
        "agent_results": results,
        "best_result": best_result(results),
        "total_agents": len(agents),
        "completed_agents": len(results),
        "failed_agents": len(failures),
        "average_score": average_score(results),
        "failures": failures,
        "scoring_error": scoring.error if results else "",
    }


def agent_result(outcome: dict[str, Any], scoring: Scoring) -> dict[str, Any]:
    agent_id = outcome["agent_id"]
    metadata = dict(outcome["metadata"])
    if agent_id in scoring.rationales and scoring.rationales[agent_id]:
        metadata["rationale"] = scoring.rationales[agent_id]
    return {
        "agent_id": agent_id,
        "proposal": outcome["proposal"],
        "reasoning": outcome["reasoning"],
        "score": 0.0 if scoring.error else scoring.scores.get(agent_id, 0.0),
        "metadata": metadata,
    }


def best_result(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    best: dict[str, Any] | None = None
    for result in results:
        if best is None or result["score"] > best["score"]:
            best = result
    return best


def average_score(results: list[dict[str, Any]]) -> float:
    if not results:
        return 0.0
    return sum(result["score"] for result in results) / len(results)


def unusable_request_result(raw: str | None, why: str) -> dict[str, Any]:
    """Every agent we can name fails with why; when none can be named, one entry with an empty
    agent_id stands for the whole request (and counts as the one agent, keeping the counts
    consistent: completed + failed <= total)."""
    ids = best_effort_agent_ids(raw) or [""]
    error = f"unusable request: {why}"
    return build_result(tuple(Agent(agent_id, "", "") for agent_id in ids), {},
                        failed_scoring(""), error)


def exit_code(result: dict[str, Any]) -> int:
    return EXIT_OK if result["completed_agents"] > 0 else EXIT_NO_PROPOSAL


def format_result_line(result: dict[str, Any]) -> str:
    # ASCII-only compact JSON: one line whatever the proposals contain, safe in any log reader.
    return RESULT_PREFIX + json.dumps(result, separators=(",", ":"), allow_nan=False)


class ResultPrinter:
    """Prints the result line once: the main flow and the deadline watchdog race for it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._printed = False

    def print_once(self, result: dict[str, Any]) -> bool:
        with self._lock:
            if self._printed:
                return False
            self._printed = True
            # One write call, so forwarded worker output cannot split the line.
            self._stream.write(format_result_line(result) + "\n")
            self._stream.flush()
            return True


# ---------------------------------------------------------------------------------------------
# The run


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


# How a run gets its agents' outcomes into progress: as Ray tasks (the job) or as threads of a
# long-lived process (the runner). Everything else about a deliberation is the same code.
AgentRunner = Callable[[Request, Budget, Progress], None]


def run_deliberation(request: Request, budget: Budget, progress: Progress,
                     run_agents: AgentRunner | None = None) -> None:
    if time.time() + MIN_CALL_S > budget.agents_until:
        return  # no time left for any call: every agent is reported as pending
    (run_agents or run_agents_as_ray_tasks)(request, budget, progress)
    proposals = progress.proposals()
    if proposals:
        progress.set_scoring(score_proposals(request, proposals, budget.judge_until))


def agents_wait_until(budget: Budget) -> float:
    """How long a run waits for its agents: they stop on their own at agents_until; the grace
    covers their last report, and the result must still be out by print_by."""
    return min(budget.agents_until + AGENT_GRACE_S, budget.print_by)


def run_agents_as_ray_tasks(request: Request, budget: Budget, progress: Progress) -> None:
    # RAY_ADDRESS (set by Ray for a job's driver) says which cluster to join.
    ray.init()
    remote_agent = ray.remote(num_cpus=0, max_retries=0)(run_agent)
    refs = {remote_agent.remote(request, agent, budget.agents_until): agent.agent_id
            for agent in request.agents}
    collect_outcomes(refs, agents_wait_until(budget), progress)


def collect_outcomes(refs: dict[Any, str], wait_until: float, progress: Progress) -> None:
    """Records each agent as it finishes. Tasks stop on their own at the agents' deadline; one
    still running after the grace is cancelled and reported by the caller as pending."""
    pending = list(refs)
    while pending:
        left = wait_until - time.time()
        if left <= 0:
            break
        ready, pending = ray.wait(pending, num_returns=1, timeout=left)
        for ref in ready:
            progress.record(task_outcome(ref, refs[ref]))
    for ref in pending:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # noqa: BLE001 - cancelling is a courtesy; the result does not wait
            pass


def task_outcome(ref: Any, agent_id: str) -> dict[str, Any]:
    try:
        return ray.get(ref)
    except Exception as err:  # noqa: BLE001 - a crashed worker is this agent's failure
        return agent_failure(agent_id, f"agent task failed ({type(err).__name__})")


def start_watchdog(request: Request, deadline: float, printer: ResultPrinter,
                   progress: Progress) -> threading.Timer:
    """Last resort for whatever blocks past the budget (a hung ray.init, a stuck call): print what
    is known just before the deadline and end the process."""

    def fire() -> None:
        result = progress.result("deadline reached")
        if printer.print_once(result):
            log("error", "deadline reached before the job finished", request.deliberation_id)
            send_wakeup(os.environ.get(ENV_CALLBACK, ""), request.deliberation_id)
            sys.stderr.flush()
            os._exit(exit_code(result))

    timer = threading.Timer(max(0.0, deadline - WATCHDOG_MARGIN_S - time.time()), fire)
    timer.daemon = True
    timer.start()
    return timer


def send_wakeup(url: str, deliberation_id: str) -> None:
    """Best-effort binary-mode CloudEvent telling the status function to look now rather than on
    its next poll; it carries no authority, so losing it only delays the status."""
    if not url or not deliberation_id:
        return
    headers = {
        "ce-specversion": "1.0",
        "ce-type": FINISHED_EVENT_TYPE,
        "ce-source": FINISHED_EVENT_SOURCE,
        "ce-id": f"{deliberation_id}.finished",
        "Content-Type": "application/json",
    }
    body = json.dumps({"deliberation_id": deliberation_id}).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=CALLBACK_TIMEOUT_S) as response:
            response.read()
    except urllib.error.HTTPError as err:
        log("warning", f"wake-up answered {err.code}", deliberation_id)
    except Exception as err:  # noqa: BLE001 - best effort: never changes the outcome
        log("warning", f"wake-up failed ({type(err).__name__})", deliberation_id)


def log(level: str, message: str, deliberation_id: str) -> None:
    # JSON lines on stderr: the result line alone owns stdout's prefix, and Ray keeps both.
    line = json.dumps({"level": level, "msg": message, "deliberation_id": deliberation_id})
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main() -> int:
    started = time.time()
    printer = ResultPrinter(sys.stdout)
    raw = os.environ.get(ENV_REQUEST)
    callback = os.environ.get(ENV_CALLBACK, "")
    try:
        request = parse_request(raw)
        deadline = parse_deadline(os.environ.get(ENV_DEADLINE), request, started)
    except RequestError as err:
        deliberation_id = best_effort_deliberation_id(raw)
        log("error", f"unusable request: {err}", deliberation_id)
        result = unusable_request_result(raw, str(err))
        printer.print_once(result)
        send_wakeup(callback, deliberation_id)
        return EXIT_NO_PROPOSAL
    progress = Progress(request.agents)
    watchdog = start_watchdog(request, deadline, printer, progress)
    pending_error = "deadline reached"
    try:
        run_deliberation(request, plan_budget(time.time(), deadline), progress)
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
