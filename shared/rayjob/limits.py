"""What the runner and the job allow on their own, whoever wrote the request: the model servers
they may call, where their wake-up goes, and the caps on agents, answers and time. They come from
the runner's Serve config args (runner_settings.py) or the job's own environment (job_limits), set
by the functions from their configuration; a request outside them is unusable, recorded as a
failure naming why, and no model server is called. So a queue entry forged by whoever can write to
Redis cannot take the runner elsewhere, nor hold it longer or larger, than the functions could.

Both lists must allow an origin: the request's policy (the functions' VLLM_URL_ALLOWLIST, as the
request carries it) and these."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from fields import int_in
from policy import DEFAULT_MAX_ANSWER_BYTES, canonical_origin, origin_problem, parse_origin_list
from request import Request

# The functions' defaults (shared/deliberation: DefaultMaxAgents, maxTimeoutSeconds).
DEFAULT_MAX_AGENTS = 16
DEFAULT_MAX_TIMEOUT_S = 86400
# How far a deadline may lie beyond max_timeout_s: the clocks of the functions and the Ray pods
# may differ that much.
DEADLINE_SKEW_S = 60

ENV_ALLOWED_ORIGINS = "RAY_EXECUTOR_ALLOWED_ORIGINS"
ENV_MAX_AGENTS = "RAY_EXECUTOR_MAX_AGENTS"
ENV_MAX_ANSWER_BYTES = "RAY_EXECUTOR_MAX_ANSWER_BYTES"
ENV_MAX_TIMEOUT_S = "RAY_EXECUTOR_MAX_TIMEOUT_S"


@dataclass(frozen=True)
class Limits:
    """None as allowed_origins is "*": any origin but the special hosts; empty allows none."""
    allowed_origins: tuple[str, ...] | None = ()
    callback_url: str = ""  # the one wake-up target; "" sends none
    max_agents: int = DEFAULT_MAX_AGENTS
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    max_timeout_s: int = DEFAULT_MAX_TIMEOUT_S

    def refusals(self, request: Request, deadline: float, callback: str, now: float,
                 owner: str) -> list[str]:
        """Why the request falls outside these limits (owner names them: "the runner's"), or
        nothing. callback is the wake-up target the request came with ("" for none)."""
        problems: list[str] = []
        if request.origin:
            problem = origin_problem(request.origin, self.allowed_origins, f"{owner} allowed_origins")
            if problem:
                problems.append(problem)
        if len(request.agents) > self.max_agents:
            problems.append(f"{len(request.agents)} agents, {owner} max_agents is {self.max_agents}")
        if request.max_answer_bytes > self.max_answer_bytes:
            problems.append(f"policy.max_answer_bytes {request.max_answer_bytes} is above "
                            f"{owner} max_answer_bytes {self.max_answer_bytes}")
        if request.timeout_seconds > self.max_timeout_s:
            problems.append(f"timeout_seconds {request.timeout_seconds} is above {owner} "
                            f"max_timeout_s {self.max_timeout_s}")
        if deadline > now + self.max_timeout_s + DEADLINE_SKEW_S:
            problems.append(f"the deadline is {int(deadline - now)} s away, beyond {owner} "
                            f"max_timeout_s {self.max_timeout_s}")
        if callback and callback.rstrip("/") != self.callback_url:
            problems.append(f"the callback {_origin_only(callback)} is not {owner} callback_url")
        return problems


def _origin_only(url: str) -> str:
    # Only the origin is repeated: a path or query may carry anything.
    try:
        return canonical_origin(url)
    except ValueError:
        return "(not an http(s) URL)"


def parse_limits(values: Mapping[str, object], owner: str) -> Limits:
    """Limits from settings (the runner's args, or the job's environment read by job_limits);
    ValueError naming every problem."""
    problems: list[str] = []
    try:
        allowed = parse_origin_list(values.get("allowed_origins"), "allowed_origins")
    except ValueError as err:
        problems.append(str(err))
        allowed = ()
    counts = {key: _integer(values.get(key)) for key in ("max_agents", "max_answer_bytes", "max_timeout_s")}
    defaults = Limits()
    numbers = {key: int_in(counts, key, getattr(defaults, key), 1, None, problems) for key in counts}
    callback = values.get("callback_url") or ""
    if not isinstance(callback, str):
        problems.append("callback_url is not a string")
        callback = ""
    if callback:
        try:
            canonical_origin(callback)
        except ValueError as err:
            problems.append(f"callback_url {err}")
        if "@" in urllib.parse.urlsplit(callback).netloc:
            problems.append("callback_url holds user information")
    if problems:
        raise ValueError(f"{owner} limits: " + "; ".join(problems))
    return Limits(allowed_origins=allowed, callback_url=callback.rstrip("/"), **numbers)


def _integer(value: object) -> object:
    # From the environment a number is a string; from Serve's args, a JSON number (or a string).
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


def job_limits(environ: Mapping[str, str]) -> Limits:
    """The job's limits from its own environment, which the functions set beside the request:
    RAY_EXECUTOR_ALLOWED_ORIGINS (comma-separated origins, or "*"; unset allows none),
    RAY_EXECUTOR_MAX_AGENTS, RAY_EXECUTOR_MAX_ANSWER_BYTES, RAY_EXECUTOR_MAX_TIMEOUT_S, and the
    wake-up target RAY_EXECUTOR_CALLBACK_URL. The job sends its wake-up there only."""
    return parse_limits({
        "allowed_origins": environ.get(ENV_ALLOWED_ORIGINS, ""),
        "max_agents": environ.get(ENV_MAX_AGENTS) or None,
        "max_answer_bytes": environ.get(ENV_MAX_ANSWER_BYTES) or None,
        "max_timeout_s": environ.get(ENV_MAX_TIMEOUT_S) or None,
        "callback_url": environ.get("RAY_EXECUTOR_CALLBACK_URL", ""),
    }, "the job's")
