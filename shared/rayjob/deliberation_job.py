"""Deliberation job: the program a Ray job runs for one deliberation.

N agents answer the same task in parallel (one Ray task each) against an OpenAI-compatible model
server, one judge call scores their proposals, and the job prints one line
``RAY_EXECUTOR_RESULT v1 <json>`` that the Ray executor functions read back from the job's logs.
The line is printed in every case (also when every agent failed or the job broke), before the
deadline the functions gave the job, so a failure is recorded with its reasons.

Inputs (environment): RAY_EXECUTOR_REQUEST (the validated request as JSON, with its optional
``policy``: ``allowed_origins`` and ``max_answer_bytes``), RAY_EXECUTOR_DEADLINE_UNIX (unix
seconds), RAY_EXECUTOR_CALLBACK_URL (optional wake-up target), VLLM_API_KEY (optional, from the Ray
cluster's own environment, never printed).
Exit code: 0 when at least one agent produced a proposal, 3 otherwise.

The model server path is closed: the job calls ``<vllm_url>/v1/chat/completions`` and nothing else
(vllm_url must be ``scheme://host[:port][/base]``), only when vllm_url's canonical origin is in the
policy's allowed origins (when the request has a policy), never follows a redirect (so the key
never leaves that origin), reads a bounded part of an answer and cuts proposal and reasoning to
``max_answer_bytes``, and keeps terminal escapes and control characters out of every error message
it reports.

Standard library, ``ray`` and ``idna`` (which Ray's own ``requests`` requires) only, Python >= 3.10,
so a stock Ray image runs it.
"""

from __future__ import annotations

import http.client
import ipaddress
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

import idna
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
# Every error message of a result is cut here at last (a request with many problems, a long
# origin); server-chosen text inside one is already cut to ERROR_SNIPPET_LIMIT.
ERROR_MESSAGE_LIMIT = 1000

# The model server the request names. Only http(s); an origin's port is always explicit, so
# "https://h" and "https://h:443" are one origin, as the functions canonicalise them.
DEFAULT_PORTS = {"http": 80, "https": 443}
ANY_ORIGIN = "*"
# What the job keeps of an answer: proposal and reasoning each up to max_answer_bytes of UTF-8,
# and of the HTTP body at most twice that (JSON escapes, content plus reasoning) plus room for the
# JSON envelope. A body beyond the read bound is not read further: the call fails.
DEFAULT_MAX_ANSWER_BYTES = 65536
ANSWER_ENVELOPE_BYTES = 64 * 1024
READ_CHUNK_BYTES = 64 * 1024
ANSWER_TRUNCATION_MARKER = "\n[... truncated by the deliberation job: {cut} of {total} bytes omitted]"

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
# Terminal escape sequences in 7-bit and 8-bit form: CSI (ESC [ or 0x9b, parameters,
# intermediates, final byte); OSC, DCS, SOS, PM and APC strings up to BEL or ST (or the next ESC,
# or the end, when unterminated); any other ESC with its intermediates and final byte. A server's
# error text must not recolour, retitle or rewrite the terminal of whoever reads it later.
TERMINAL_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c|(?=\x1b)|$)"
    r"|\x1b[ -/]*[0-~]?"
)
CONTROL_CHAR = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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
    vllm_url: str  # as given, for reading only: calls go to chat_url
    vllm_model: str
    chat_url: str  # the one URL the job calls: vllm_url's canonical origin + base + CHAT_PATH
    max_answer_bytes: int


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
    policy = parse_policy(doc.get("policy"), problems)
    target = _model_server(text["vllm_url"], policy, problems) if text["vllm_url"] else None
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
        chat_url=target.chat_url if target else "",
        max_answer_bytes=policy.max_answer_bytes,
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
            problems: list[str], path: str = "") -> int:
    value = doc.get(key)
    if value is None:
        return default
    # bool is an int in Python; a JSON true is not a count.
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
            high is not None and value > high):
        problems.append(f"{path}{key} is out of range")
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


@dataclass(frozen=True)
class Policy:
    """What the functions allow this job: None as allowed_origins means any origin (no policy,
    or ["*"]); an empty tuple, none."""
    allowed_origins: tuple[str, ...] | None
    max_answer_bytes: int


@dataclass(frozen=True)
class ModelServer:
    origin: str  # canonical scheme://host:port: the only origin the job calls and sends the key to
    chat_url: str


def parse_policy(value: Any, problems: list[str]) -> Policy:
    """The request's policy. Absent (older functions, a manual run): no origin re-check beyond
    vllm_url's own origin, and the default answer cap."""
    if value is None:
        return Policy(None, DEFAULT_MAX_ANSWER_BYTES)
    if not isinstance(value, dict):
        problems.append("policy is not an object")
        return Policy((), DEFAULT_MAX_ANSWER_BYTES)
    return Policy(
        allowed_origins=_allowed_origins(value.get("allowed_origins"), problems),
        max_answer_bytes=_int_in(value, "max_answer_bytes", DEFAULT_MAX_ANSWER_BYTES, 1, None,
                                 problems, "policy."),
    )


def _allowed_origins(value: Any, problems: list[str]) -> tuple[str, ...] | None:
    # An empty list allows nothing (the functions' allowlist is empty); a malformed one allows
    # nothing either, and its problem makes the request unusable anyway.
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(o, str) for o in value):
        problems.append("policy.allowed_origins is not a list of origins")
        return ()
    if ANY_ORIGIN in value:
        if value != [ANY_ORIGIN]:
            problems.append('policy.allowed_origins mixes "*" with origins')
            return ()
        return None
    for index, origin in enumerate(value):
        # Entries are compared as written, so one the functions did not canonicalise could never
        # match: say so rather than refuse every vllm_url in silence.
        if _canonical_or_empty(origin) != origin:
            problems.append(f"policy.allowed_origins[{index}] is not a canonical "
                            "scheme://host:port origin")
    return tuple(value)


def _model_server(url: str, policy: Policy, problems: list[str]) -> ModelServer | None:
    try:
        target = parse_vllm_url(url)
    except ValueError as err:
        problems.append(f"vllm_url {err}")
        return None
    if policy.allowed_origins is not None and target.origin not in policy.allowed_origins:
        problems.append(f"vllm_url {target.origin} is not in the allowed origins")
        return None
    return target


def parse_vllm_url(url: str) -> ModelServer:
    """vllm_url as scheme://host[:port][/base], and the one URL the job calls with it. The call
    is built from the canonical origin, so what the policy checked is what is connected to."""
    if "?" in url or "#" in url:
        raise ValueError("has a query or fragment")
    scheme, host, port = split_origin(url)
    base = urllib.parse.urlsplit(url).path.rstrip("/")
    # Non-ASCII in the path would fail in http.client; existing %XX escapes stay as they are.
    base = urllib.parse.quote(base, safe="/%!$&'()*+,;=:@-._~")
    netloc = host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return ModelServer(origin=f"{scheme}://{host}:{port}",
                       chat_url=f"{scheme}://{netloc}{base}{CHAT_PATH}")


def split_origin(url: str) -> tuple[str, str, int]:
    """Scheme, canonical host and port of an http(s) URL (its path and query are ignored);
    ValueError saying what is wrong otherwise."""
    if any(ch.isspace() or _is_control(ch) for ch in url):
        raise ValueError("contains spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # a bracketed host that is no IPv6 address
        raise ValueError("has an invalid host") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("is not an http(s) URL")
    if "@" in parts.netloc:
        raise ValueError("holds user information")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if port == 0:
        raise ValueError("has an invalid port")
    return parts.scheme, canonical_host(parts.hostname or ""), port or DEFAULT_PORTS[parts.scheme]


def canonical_host(host: str) -> str:
    """The host as the functions write allowed origins (shared/deliberation's canonicalHost, the
    cases in contract/origins.json): IDNA A-labels as a resolver looks the name up (UTS #46,
    nontransitional, STD3 rules), lowercase, without the trailing dot of a fully qualified name;
    a name whose last label is a number only as a dotted quad (resolvers read 2852039166 or
    0xa9fea9fe as 169.254.169.254); an IPv6 literal compressed (RFC 5952, as Go's netip writes
    it: [0:0::1] is [::1]) in brackets, never an IPv4-mapped one."""
    if ":" in host:  # an IPv6 literal: urlsplit removed its brackets
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("has an invalid host") from None
        # A zone names an interface of one machine, no server; a mapped address is an IPv4 one.
        if address.scope_id or address.ipv4_mapped is not None:
            raise ValueError("has an invalid host")
        return f"[{address.compressed}]"
    name = host.removesuffix(".")
    if not name:
        raise ValueError("has no host")
    try:
        ascii_host = idna.encode(name, uts46=True, transitional=False, std3_rules=True)
    except (idna.IDNAError, UnicodeError):  # what IDNA refuses: bad labels, joiners, bidi
        raise ValueError("has an invalid host") from None
    labels = ascii_host.decode("ascii").lower().split(".")
    # The mapping may still yield an empty label (a trailing ideographic full stop).
    if len(".".join(labels)) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise ValueError("has an invalid host")
    ascii_name = ".".join(labels)
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            if str(ipaddress.IPv4Address(ascii_name)) == ascii_name:
                return ascii_name
        except ValueError:
            pass
        raise ValueError("has an invalid host")
    return ascii_name


_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def canonical_origin(url: str) -> str:
    scheme, host, port = split_origin(url)
    return f"{scheme}://{host}:{port}"


def _canonical_or_empty(url: str) -> str:
    try:
        return canonical_origin(url)
    except ValueError:
        return ""


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


class RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follows a redirect. urllib would follow a 301, 302 or 303 to any host, as a GET that
    keeps the Authorization header, and use that host's answer; declining hands the 3xx on to the
    default handler, which raises it as an HTTPError that http_error reports."""

    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                       headers: Any) -> None:
        return None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


# The opener of every model server call (the wake-up is no model server call and carries no key).
MODEL_OPENER = urllib.request.build_opener(RefuseRedirects)


def read_limit(max_answer_bytes: int) -> int:
    return 2 * max_answer_bytes + ANSWER_ENVELOPE_BYTES


def post_json(url: str, body: dict[str, Any], timeout: float, api_key: str,
              max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
    try:
        with MODEL_OPENER.open(request, timeout=timeout) as response:
            payload = read_bounded(response, read_limit(max_answer_bytes),
                                   time.monotonic() + timeout)
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


def read_bounded(response: http.client.HTTPResponse, limit: int, until: float) -> bytes:
    """The body, up to limit bytes. A longer one is refused as soon as it shows (its announced
    length, or the first byte past the limit) and never read to its end; a body still dripping
    in at until (monotonic seconds) is a timeout, so a call never outlives its budget."""
    if _content_length(response.headers.get("Content-Length")) > limit:
        raise answer_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > until:
            raise AttemptError("model server timed out", True)
        chunk = response.read(min(READ_CHUNK_BYTES, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise answer_too_large(limit)


def _content_length(value: str | None) -> int:
    try:
        return int(value) if value else -1
    except ValueError:
        return -1


def answer_too_large(limit: int) -> AttemptError:
    # Final: the same prompt would most likely bring the same flood again.
    return AttemptError(f"model server answer larger than {limit} bytes", False)


def http_error(err: urllib.error.HTTPError) -> AttemptError:
    code = err.code
    if 300 <= code < 400:
        return AttemptError(redirect_problem(err), False)
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


def redirect_problem(err: urllib.error.HTTPError) -> str:
    """Names where the server wanted to send the call by origin only: the location's path and
    query may hold tokens, and the key is never part of it."""
    location = err.headers.get("Location") if err.headers is not None else None
    if not location:
        target = "without a location"
    else:
        try:
            target = "to " + canonical_origin(urllib.parse.urljoin(err.url or "", location))
        except ValueError:
            target = "to an unusable location"
    return _one_line(f"model server redirected ({err.code}) {target}; redirects are not followed")


def clean_text(text: str) -> str:
    """text as one line without terminal escapes and C0/C1 control characters: line breaks and
    tabs become spaces, runs of white space one space."""
    text = TERMINAL_ESCAPE.sub("", text)
    text = CONTROL_CHAR.sub(lambda match: " " if match.group().isspace() else "", text)
    return " ".join(text.split())


def _is_control(ch: str) -> bool:
    return CONTROL_CHAR.fullmatch(ch) is not None


def _one_line(text: str, limit: int = ERROR_SNIPPET_LIMIT) -> str:
    # Cleaned before it is cut, so the cut never leaves half an escape sequence behind.
    flat = clean_text(text)
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def clean_error(text: str) -> str:
    """Every error message a result carries: one clean line of bounded length."""
    return _one_line(text, ERROR_MESSAGE_LIMIT)


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
                      rng: Callable[[], float] = random.random,
                      max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
                      cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Posts body until it succeeds, a failure is not transient, 1 + max_retries attempts were
    made, until (unix seconds) comes, or the run is cancelled: each attempt's timeout is the time
    left, and no attempt starts once cancelled() is true."""
    attempts = 0
    last: AttemptError | None = None
    while True:
        if cancelled():
            raise CallFailed(CANCELLED)
        left = until - time.time()
        if left < MIN_CALL_S:
            raise CallFailed(deadline_message(attempts, last))
        attempts += 1
        try:
            return post_json(url, body, left, api_key, max_answer_bytes)
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


def cap_answer(text: str, limit: int) -> tuple[str, bool]:
    """text cut to at most limit bytes of UTF-8, marker included (only a cap smaller than the
    marker itself leaves the marker alone), on a character boundary; and whether it was cut."""
    # surrogatepass: JSON may carry a lone surrogate, which plain UTF-8 cannot encode.
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, False
    widest = ANSWER_TRUNCATION_MARKER.format(cut=len(data), total=len(data))
    keep = max(0, limit - len(widest))
    while keep > 0 and data[keep] & 0xC0 == 0x80:  # a continuation byte: back to the char's start
        keep -= 1
    marker = ANSWER_TRUNCATION_MARKER.format(cut=len(data) - keep, total=len(data))
    return data[:keep].decode("utf-8", "surrogatepass") + marker, True


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


# The error of a call the run's cancel kept from starting.
CANCELLED = "cancelled"


def never_cancelled() -> bool:
    return False


def run_agent(request: Request, agent: Agent, until: float,
              cancelled: Callable[[], bool] = never_cancelled) -> dict[str, Any]:
    """One agent's work: a plain function returning a plain dict, so it runs the same as a Ray
    task and in a unit test. It never raises: every failure becomes a short message."""
    started = time.monotonic()
    body = chat_body(agent.model, system_prompt(agent.role), user_prompt(request, agent))

    def on_retry(problem: str, delay: float) -> None:
        log("warning", f"agent {agent.agent_id}: {problem}; retrying in {delay:.1f} s",
            request.deliberation_id)

    try:
        answer = call_with_retries(request.chat_url, body, until, request.max_retries,
                                   os.environ.get(ENV_API_KEY, ""), on_retry,
                                   max_answer_bytes=request.max_answer_bytes, cancelled=cancelled)
        proposal, reasoning = split_reasoning(first_message(answer))
    except CallFailed as err:
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
                    until: float, cancelled: Callable[[], bool] = never_cancelled) -> Scoring:
    """One judge call for all proposals; any failure zeroes every score and says why."""
    ids = [agent.agent_id for agent, _ in proposals]

    def on_retry(problem: str, delay: float) -> None:
        log("warning", f"judge: {problem}; retrying in {delay:.1f} s", request.deliberation_id)

    try:
        answer = call_with_retries(request.chat_url, judge_body(request, proposals), until,
                                   request.max_retries, os.environ.get(ENV_API_KEY, ""), on_retry,
                                   max_answer_bytes=request.max_answer_bytes, cancelled=cancelled)
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
            # The one place every failure passes, whoever wrote it (a Ray task, the runner).
            failures.append({"agent_id": agent.agent_id, "error": clean_error(error)})
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
        "scoring_error": clean_error(scoring.error) if results else "",
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
                     run_agents: AgentRunner | None = None,
                     cancelled: Callable[[], bool] = never_cancelled) -> None:
    if time.time() + MIN_CALL_S > budget.agents_until:
        return  # no time left for any call: every agent is reported as pending
    (run_agents or run_agents_as_ray_tasks)(request, budget, progress)
    proposals = progress.proposals()
    if proposals and not cancelled():
        progress.set_scoring(score_proposals(request, proposals, budget.judge_until, cancelled))


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
