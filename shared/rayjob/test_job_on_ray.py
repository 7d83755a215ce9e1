"""The whole job as a real Ray driver with real Ray tasks against the fake model server, on the
tests' Ray head (see conftest.py: skipped without RAY_TEST_GCS_ADDRESS, failing under CI=true)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import API_KEY, BRACES_TEMPLATE, JobRun, make_request, run_job
from fakemodel_client import Behaviour, FakeModelServer
from policy import canonical_origin
from prompts import system_prompt

MIXED_AGENTS = [
    {"agent_id": "a1", "role": "DEV", "model": "m-dev"},
    {"agent_id": "a2", "role": "SECURITY", "model": "m-sec", "prompt_template": BRACES_TEMPLATE},
    {"agent_id": "a3", "role": "QA", "model": "m-down"},
]
SLOW_S = 3.0


@pytest.fixture(scope="module")
def mixed_run(ray_gcs_address: str) -> Iterator[tuple[FakeModelServer, JobRun]]:
    """One run shared by several tests: three agents, one always failing, a judge preferring the
    second, a callback and an API key."""
    server = FakeModelServer()
    server.set_model("m-dev", Behaviour(answer="DEV proposal", delay=SLOW_S, total_tokens=812))
    server.set_model("m-sec", Behaviour(answer="SEC proposal", delay=SLOW_S))
    server.set_model("m-down", Behaviour(fail_status=503))
    server.set_judge_scores({"a1": 0.4, "a2": 0.9})
    run = run_job(make_request(server.url, MIXED_AGENTS), ray_gcs_address, extra_env={
        "RAY_EXECUTOR_CALLBACK_URL": server.url + "/events", "VLLM_API_KEY": API_KEY,
        # VLLM_API_KEY is a shorthand for exactly one allowed origin: the fake's.
        "RAY_EXECUTOR_ALLOWED_ORIGINS": canonical_origin(server.url)})
    yield server, run
    server.close()


def test_mixed_run_succeeds_with_the_agents_that_answered(
        mixed_run: tuple[FakeModelServer, JobRun]) -> None:
    _, run = mixed_run
    assert run.returncode == 0, run.output()
    result = run.result
    assert result is not None
    assert [r["agent_id"] for r in result["agent_results"]] == ["a1", "a2"]
    assert (result["total_agents"], result["completed_agents"], result["failed_agents"]) == (3, 2, 1)
    assert all(0.0 <= r["score"] <= 1.0 for r in result["agent_results"])
    assert [r["score"] for r in result["agent_results"]] == [0.4, 0.9]
    assert result["best_result"]["agent_id"] == "a2"
    assert result["best_result"]["proposal"] == "SEC proposal"
    assert result["average_score"] == pytest.approx(0.65)
    assert result["scoring_error"] == ""
    assert result["agent_results"][0]["metadata"]["model"] == "m-dev"
    assert result["agent_results"][0]["metadata"]["tokens"] == "812"
    assert int(result["agent_results"][0]["metadata"]["duration_ms"]) >= SLOW_S * 1000


def test_mixed_run_names_the_failing_agent_and_status(
        mixed_run: tuple[FakeModelServer, JobRun]) -> None:
    server, run = mixed_run
    assert run.result is not None
    assert run.result["failures"] == [
        {"agent_id": "a3", "error": "model server answered 503 after 2 attempts"}]
    assert len(server.chat_requests("m-down")) == 2


def test_mixed_run_request_bodies(mixed_run: tuple[FakeModelServer, JobRun]) -> None:
    server, _ = mixed_run
    by_model = {r.model: r for r in server.agent_requests()}
    assert set(by_model) == {"m-dev", "m-sec", "m-down"}
    for spec in MIXED_AGENTS:
        sent = by_model[spec["model"]]
        assert sent.body["temperature"] == 0.7
        assert sent.body["max_tokens"] == 2048
        assert [m["role"] for m in sent.body["messages"]] == ["system", "user"]
        assert sent.message("system") == system_prompt(spec["role"])
    assert by_model["m-sec"].message("system") == "You are an expert SECURITY engineer."
    assert "testing strategies" in by_model["m-down"].message("system")
    assert by_model["m-sec"].message("user") == (
        'Story story-1, task task-1 as SECURITY:\nAdd a retry to the Redis client.\n'
        'def f(): return {"a": 1}')
    assert by_model["m-dev"].message("user").endswith("Context:\n- lang: go\n- repo: functions")
    judges = server.judge_requests()
    assert len(judges) == 1
    judge = judges[0]
    assert judge.model == "judge-model"
    assert judge.body["response_format"]["type"] == "json_schema"
    assert judge.body["response_format"]["json_schema"]["strict"] is True
    prompt = judge.message("user")
    assert "DEV proposal" in prompt and "SEC proposal" in prompt
    assert 'agent_id="a3"' not in prompt


def test_mixed_run_agents_ran_in_parallel(mixed_run: tuple[FakeModelServer, JobRun]) -> None:
    server, _ = mixed_run
    starts = [r.started for r in server.agent_requests() if r.model in ("m-dev", "m-sec")]
    assert max(starts) - min(starts) < SLOW_S


# How late the test's reader thread may see a line the job printed.
READER_SLACK_S = 0.25


def test_mixed_run_sends_the_wakeup_after_the_result(
        mixed_run: tuple[FakeModelServer, JobRun]) -> None:
    server, run = mixed_run
    events = server.events()
    assert len(events) == 1
    event = events[0]
    assert event.path == "/events"
    assert event.headers["ce-specversion"] == "1.0"
    assert event.headers["ce-type"] == "dev.rayexecutor.deliberation.finished.v1"
    assert event.headers["ce-source"] == "/ray-executor/job"
    assert event.headers["ce-id"] == "delib-" + "a" * 26 + ".finished"
    assert event.headers["content-type"] == "application/json"
    assert event.body == {"deliberation_id": "delib-" + "a" * 26}
    # The order itself is test_main_prints_the_result_before_the_wakeup's; here the line is read
    # by a thread of the test, which may see it a moment after the fake server saw the wake-up.
    assert run.result_at is not None and run.result_at <= event.started + READER_SLACK_S


def test_mixed_run_sends_but_never_prints_the_api_key(
        mixed_run: tuple[FakeModelServer, JobRun]) -> None:
    server, run = mixed_run
    # The driver has the key from its environment; workers read the cluster's, unset here.
    assert server.judge_requests()[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in run.output()


def test_all_agents_failing_exits_3_and_keeps_the_errors(
        server: FakeModelServer, ray_gcs_address: str) -> None:
    server.set_model("m-400", Behaviour(fail_status=400))
    server.set_model("m-503", Behaviour(fail_status=503))
    request = make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m-400"},
                                        {"agent_id": "a2", "role": "QA", "model": "m-503"}],
                           constraints={"max_retries": 2})
    run = run_job(request, ray_gcs_address)
    assert run.returncode == 3, run.output()
    assert run.result is not None
    assert run.result["failures"] == [
        {"agent_id": "a1", "error": "model server answered 400: fake failure of m-400"},
        {"agent_id": "a2", "error": "model server answered 503 after 3 attempts"}]
    assert (run.result["completed_agents"], run.result["failed_agents"]) == (0, 2)
    assert run.result["agent_results"] == [] and run.result["best_result"] is None
    assert len(server.chat_requests("m-400")) == 1
    assert len(server.chat_requests("m-503")) == 3
    assert server.judge_requests() == []


def test_retries_503_then_succeeds(server: FakeModelServer, ray_gcs_address: str) -> None:
    server.set_model("m-flaky", Behaviour(fail_status=503, fail_times=2))
    request = make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m-flaky"}],
                           constraints={"max_retries": 3})
    run = run_job(request, ray_gcs_address)
    assert run.returncode == 0, run.output()
    assert run.result is not None
    assert run.result["completed_agents"] == 1
    assert run.result["best_result"]["proposal"] == "proposal from m-flaky"
    assert run.result["best_result"]["score"] == 0.9
    assert len(server.chat_requests("m-flaky")) == 3


def test_a_stalled_agent_is_cut_at_the_deadline(server: FakeModelServer,
                                                ray_gcs_address: str) -> None:
    server.set_model("m-stall", Behaviour(stall=True))
    request = make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m-stall"},
                                        {"agent_id": "a2", "role": "QA", "model": "m-ok"}],
                           constraints={"max_retries": 3})
    run = run_job(request, ray_gcs_address, deadline_in=20.0)
    assert run.returncode == 0, run.output()
    assert run.result_at is not None and run.result_at < run.deadline
    assert run.ended < run.deadline + 10.0  # the driver's shutdown, slow on a loaded machine
    assert run.result is not None
    failure = run.result["failures"][0]
    assert failure["agent_id"] == "a1" and failure["error"].startswith("deadline reached")
    assert [r["agent_id"] for r in run.result["agent_results"]] == ["a2"]
    assert run.result["scoring_error"] == ""
    assert len(server.chat_requests("m-stall")) == 1


def test_a_garbage_judge_zeroes_scores_and_says_why(server: FakeModelServer,
                                                    ray_gcs_address: str) -> None:
    server.set_judge_content("I liked the first one best!")
    request = make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"},
                                        {"agent_id": "a2", "role": "QA", "model": "m2"}])
    run = run_job(request, ray_gcs_address)
    assert run.returncode == 0, run.output()
    assert run.result is not None
    assert [r["score"] for r in run.result["agent_results"]] == [0.0, 0.0]
    assert run.result["average_score"] == 0.0
    assert run.result["scoring_error"] == "judge answered invalid JSON"
    assert run.result["best_result"]["agent_id"] == "a1"
