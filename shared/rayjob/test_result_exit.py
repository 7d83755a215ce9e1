"""Tests of the job's result and exit code: the result built from the agents' outcomes, the one
result line, the time budget kept for it, and main (without Ray, and as a process whose Ray never
answers) printing it whatever happens."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import pytest
import ray

import deliberation_job as job
from agent import agent_failure
from conftest import agent, make_request, run_job, success
from deliberation import Budget, Progress, plan_budget, run_deliberation
from fakemodel_client import FakeModelServer
from judge import Scoring, failed_scoring
from messages import ERROR_MESSAGE_LIMIT
from model_client import ModelClient
from request import ENV_DEADLINE, ENV_REQUEST, Request
from result import (
    EXIT_NO_PROPOSAL,
    EXIT_OK,
    RESULT_PREFIX,
    ResultPrinter,
    build_result,
    exit_code,
    unusable_request_result,
)


def test_build_result_picks_the_highest_first_on_ties_in_request_order() -> None:
    agents = (agent("a1"), agent("a2"), agent("a3"), agent("a4"))
    outcomes = {"a1": success("a1"), "a2": success("a2"), "a4": success("a4"),
                "a3": agent_failure("a3", "model server answered 503 after 4 attempts")}
    scoring = Scoring({"a1": 0.5, "a2": 0.8, "a4": 0.8}, {"a2": "clear"})
    result = build_result(agents, outcomes, scoring, "deadline reached")
    assert [r["agent_id"] for r in result["agent_results"]] == ["a1", "a2", "a4"]
    assert result["best_result"]["agent_id"] == "a2"
    assert result["best_result"]["metadata"]["rationale"] == "clear"
    assert result["average_score"] == pytest.approx(0.7)
    assert (result["total_agents"], result["completed_agents"], result["failed_agents"]) == (4, 3, 1)
    assert result["failures"] == [{"agent_id": "a3",
                                   "error": "model server answered 503 after 4 attempts"}]
    assert result["scoring_error"] == ""


def test_build_result_reports_agents_without_outcome_as_pending() -> None:
    result = build_result((agent("a1"), agent("a2")), {"a2": success("a2")},
                              None, "deadline reached")
    assert result["failures"] == [{"agent_id": "a1", "error": "deadline reached"}]
    assert result["scoring_error"] == "deadline reached before scoring"
    assert result["agent_results"][0]["score"] == 0.0
    assert result["best_result"]["agent_id"] == "a2"


def test_build_result_without_proposals_has_no_best() -> None:
    result = build_result((agent("a1"),), {"a1": agent_failure("a1", "x")},
                              failed_scoring("ignored"), "")
    assert result["best_result"] is None
    assert result["average_score"] == 0.0
    assert result["scoring_error"] == ""
    assert exit_code(result) == EXIT_NO_PROPOSAL


def test_build_result_cleans_every_error_it_reports() -> None:
    dirty = "bad\x1b[2J\x1b]0;owned\x07 thing\r\n\x00next" + "y" * 5000
    result = build_result((agent("a1"), agent("a2")),
                              {"a1": agent_failure("a1", dirty), "a2": success("a2")},
                              failed_scoring("judge said \x1b[31mno\x1b[0m\n"), "")
    error = result["failures"][0]["error"]
    assert error.startswith("bad thing nextyyy") and error.endswith("...")
    assert len(error) == ERROR_MESSAGE_LIMIT
    assert result["scoring_error"] == "judge said no"


def test_unusable_request_result_keeps_counts_consistent() -> None:
    named = unusable_request_result(json.dumps({"agents": [{"agent_id": "a1"}]}), "why")
    assert named["failures"] == [{"agent_id": "a1", "error": "unusable request: why"}]
    anonymous = unusable_request_result("{", "why")
    assert anonymous["failures"] == [{"agent_id": "", "error": "unusable request: why"}]
    for result in (named, anonymous):
        assert result["completed_agents"] + result["failed_agents"] <= result["total_agents"]


def test_result_line_is_one_ascii_line_printed_once() -> None:
    class Sink:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    sink = Sink()
    printer = ResultPrinter(sink)  # type: ignore[arg-type]
    result = build_result((agent(),), {"a1": success("a1", "line 1\nline 2 \u00e9")},
                              Scoring({"a1": 1.0}, {}), "")
    assert printer.print_once(result) is True
    assert printer.print_once(result) is False
    assert sink.text.count("\n") == 1 and sink.text.isascii()
    assert json.loads(sink.text[len(RESULT_PREFIX):]) == result


def test_budget_keeps_time_for_the_judge_and_the_print() -> None:
    budget = plan_budget(1000.0, 1300.0)
    assert 1000.0 < budget.agents_until < budget.judge_until == budget.print_by == 1299.0
    assert budget.judge_until - budget.agents_until == pytest.approx(0.2 * 299.0)
    short = plan_budget(1000.0, 1002.0)
    assert 1000.0 < short.agents_until < short.print_by <= 1001.0


# ---------------------------------------------------------------------------------------------
# main, without Ray


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             deliberation: Any, deadline_in: float = 30.0) -> tuple[int, dict[str, Any]]:
    agents = [{"agent_id": "a1", "role": "DEV", "model": "m1"},
              {"agent_id": "a2", "role": "QA", "model": "m2"}]
    monkeypatch.setenv(ENV_REQUEST, json.dumps(make_request("http://127.0.0.1:9", agents)))
    monkeypatch.setenv(ENV_DEADLINE, repr(time.time() + deadline_in))
    monkeypatch.delenv(job.ENV_CALLBACK, raising=False)
    monkeypatch.setenv("RAY_EXECUTOR_ALLOWED_ORIGINS", "http://127.0.0.1:9")
    monkeypatch.setattr(job, "run_deliberation", deliberation)
    # The real watchdog ends its process: in here it would end pytest. Its own test runs the job
    # as a subprocess.
    monkeypatch.setattr(job, "start_watchdog",
                        lambda *args: threading.Timer(0, lambda: None))
    code = job.main()
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith(RESULT_PREFIX)]
    assert len(lines) == 1
    return code, json.loads(lines[0][len(RESULT_PREFIX):])


def test_main_reports_an_unexpected_error_as_the_agents_failure(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    async def broken(client: ModelClient, request: Request, budget: Budget, progress: Progress,
                     run_agents: Any) -> None:
        raise RuntimeError("cluster exploded")

    code, result = run_main(monkeypatch, capsys, broken)
    assert code == EXIT_NO_PROPOSAL
    assert result["failures"] == [{"agent_id": "a1", "error": "job error (RuntimeError)"},
                                  {"agent_id": "a2", "error": "job error (RuntimeError)"}]


def test_main_keeps_finished_agents_when_scoring_never_happened(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    async def half(client: ModelClient, request: Request, budget: Budget, progress: Progress,
                   run_agents: Any) -> None:
        progress.record(success("a2"))
        raise KeyError("bug")

    code, result = run_main(monkeypatch, capsys, half)
    assert code == EXIT_OK
    assert [r["agent_id"] for r in result["agent_results"]] == ["a2"]
    assert result["scoring_error"] == "job error (KeyError) before scoring"
    assert result["failures"] == [{"agent_id": "a1", "error": "job error (KeyError)"}]


def test_main_prints_the_result_before_the_wakeup(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # What stdout held when the wake-up went out: the status function it wakes reads the result
    # from the job's logs, so the line must be there first.
    printed_at_wakeup: list[str] = []

    def wakeup(url: str, deliberation_id: str) -> None:
        printed_at_wakeup.append(capsys.readouterr().out)
        sys.stdout.write(printed_at_wakeup[-1])  # put back for run_main's own check

    async def one(client: ModelClient, request: Request, budget: Budget, progress: Progress,
                  run_agents: Any) -> None:
        progress.record(success("a1"))

    monkeypatch.setattr(job, "send_wakeup", wakeup)
    code, _ = run_main(monkeypatch, capsys, one)
    assert code == EXIT_OK
    assert len(printed_at_wakeup) == 1 and printed_at_wakeup[0].startswith(RESULT_PREFIX)


def test_past_deadline_skips_ray_and_reports_every_agent(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("ray.init called"))
    code, result = run_main(monkeypatch, capsys, run_deliberation, deadline_in=-5.0)
    assert code == EXIT_NO_PROPOSAL
    assert {f["error"] for f in result["failures"]} == {"deadline reached"}


# ---------------------------------------------------------------------------------------------
# The job as a process, without Ray


def test_unusable_request_still_prints_the_result_line(server: FakeModelServer) -> None:
    run = run_job('{"deliberation_id": "delib-x", "agents": [{"agent_id": "a1"}]}',
                  "127.0.0.1:1", extra_env={"RAY_EXECUTOR_CALLBACK_URL": server.url + "/events"})
    assert run.returncode == 3
    assert run.result is not None
    assert run.result["failures"][0]["agent_id"] == "a1"
    assert run.result["failures"][0]["error"].startswith("unusable request: ")
    assert [e.body for e in server.events()] == [{"deliberation_id": "delib-x"}]


def test_watchdog_prints_before_the_deadline_when_ray_never_answers(
        server: FakeModelServer) -> None:
    # Nothing listens on port 1: ray.init keeps trying, so only the watchdog can end the job.
    request = make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}])
    run = run_job(request, "127.0.0.1:1", deadline_in=4.0)
    assert run.returncode == 3
    assert run.result_at is not None and run.result_at < run.deadline
    assert run.result is not None
    assert run.result["failures"] == [{"agent_id": "a1", "error": "deadline reached"}]
