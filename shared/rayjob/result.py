"""The result of a deliberation (docs/ray.md): built in the request's agent order from whatever
is known, and printed once as the line the functions read back."""

from __future__ import annotations

import json
import threading
from typing import Any, TextIO

from judge import Scoring, failed_scoring
from messages import clean_error
from request import Agent, best_effort_agent_ids

RESULT_PREFIX = "RAY_EXECUTOR_RESULT v1 "
EXIT_OK = 0
EXIT_NO_PROPOSAL = 3


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
    if scoring.rationales.get(agent_id):
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
    return float(sum(result["score"] for result in results)) / len(results)


def unusable_request_result(raw: str | None, why: str, name_agents: bool = True) -> dict[str, Any]:
    """Every agent we can name fails with why; when none can be named (or name_agents is false:
    more agents than the caps allow, whose list is not repeated), one entry with an empty agent_id
    stands for the whole request (and counts as the one agent, keeping the counts consistent:
    completed + failed <= total)."""
    ids = (best_effort_agent_ids(raw) if name_agents else []) or [""]
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
