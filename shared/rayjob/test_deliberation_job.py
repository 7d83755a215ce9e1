"""Tests of the deliberation job: its helpers as plain functions, and the whole job as a real Ray
driver with real Ray tasks against the fake model server (see conftest.py for the Ray head)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray

import deliberation_job as job
from agent import agent_failure, run_agent, split_reasoning
from conftest import JobRun, make_request, run_job
from deliberation import Budget, Progress, plan_budget, run_deliberation
from fakemodel_client import Behaviour, FakeModelServer, streamed_completion
from judge import Scoring, ScoringError, failed_scoring, parse_scores, score_proposals
from messages import ERROR_MESSAGE_LIMIT, clean_text
from model_client import (
    BACKOFF_CAP_S,
    ENV_API_KEY,
    CallError,
    backoff_delay,
    call_with_retries,
    cap_answer,
    first_message,
)
from policy import CHAT_PATH, DEFAULT_MAX_ANSWER_BYTES
from prompts import (
    JUDGE_PROMPT_BUDGET,
    TASK_LIMIT,
    chat_body,
    judge_body,
    proposal_limit,
    render_template,
    system_prompt,
    truncate,
    user_prompt,
)
from request import (
    DEFAULT_MAX_RETRIES,
    ENV_DEADLINE,
    ENV_REQUEST,
    Agent,
    Request,
    RequestError,
    parse_deadline,
    parse_request,
)
from result import (
    EXIT_NO_PROPOSAL,
    EXIT_OK,
    RESULT_PREFIX,
    ResultPrinter,
    build_result,
    exit_code,
    unusable_request_result,
)

BRACES_TEMPLATE = 'Story {story_id}, task {task_id} as {role}:\n{task}\ndef f(): return {"a": 1}'
API_KEY = "sk-test-never-print-me"
HUGE_BODY = 64 << 20  # more than any socket buffers hold, so a body read in full shows


def request_of(server_url: str = "http://127.0.0.1:9", **overrides: Any) -> Request:
    agents = overrides.pop("agents", [{"agent_id": "a1", "role": "DEV", "model": "m1"}])
    return parse_request(json.dumps(make_request(server_url, agents, **overrides)))


def agent(agent_id: str = "a1", role: str = "DEV", template: str = "") -> Agent:
    return Agent(agent_id, role, "m1", template)


def success(agent_id: str, proposal: str = "p") -> dict[str, Any]:
    return {"agent_id": agent_id, "ok": True, "proposal": proposal, "reasoning": "",
            "metadata": {"model": "m1", "tokens": "1", "duration_ms": "2"}}


# ---------------------------------------------------------------------------------------------
# Request parsing


def test_parse_request_reads_fields_and_defaults() -> None:
    raw = make_request("http://127.0.0.1:8000/", [{"agent_id": "a1", "role": "QA", "model": "m"}])
    del raw["constraints"]["max_retries"]
    request = parse_request(json.dumps(raw))
    assert request.max_retries == DEFAULT_MAX_RETRIES
    assert request.vllm_url == "http://127.0.0.1:8000"
    assert request.agents == (Agent("a1", "QA", "m", ""),)
    assert request.metadata == (("lang", "go"), ("repo", "functions"))


def test_parse_request_keeps_explicit_zero_retries() -> None:
    assert request_of(constraints={"max_retries": 0}).max_retries == 0


@pytest.mark.parametrize("raw, message", [
    (None, "RAY_EXECUTOR_REQUEST is not set"),
    ("{nope", "not valid JSON"),
    ("[]", "not a JSON object"),
    (json.dumps({"agents": []}), "agents is missing"),
    (json.dumps({"agents": [{"agent_id": "a1"}]}), "agents[0].model is missing"),
    (json.dumps({"agents": [{"agent_id": "a", "role": "r", "model": "m"}] * 2}),
     "duplicate agent_id a"),
])
def test_parse_request_refuses_unusable_input(raw: str | None, message: str) -> None:
    with pytest.raises(RequestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_request(raw)


def test_parse_request_refuses_non_http_url() -> None:
    with pytest.raises(RequestError, match="vllm_url is not an http"):
        request_of("file:///etc/passwd")


@pytest.mark.parametrize("url, message", [
    ("http://127.0.0.1:8000/v1?api-version=1", "vllm_url has a query or fragment"),
    ("http://127.0.0.1:8000/?", "vllm_url has a query or fragment"),
    ("http://127.0.0.1:8000/#frag", "vllm_url has a query or fragment"),
    ("http://user:secret@127.0.0.1:8000", "vllm_url holds user information"),
    ("http://127.0.0.1:8000@evil.example", "vllm_url holds user information"),
    ("http://127.0.0.1:99999", "vllm_url has an invalid port"),
    ("http://127.0.0.1:x/", "vllm_url has an invalid port"),
    ("http://a..b/", "vllm_url has an invalid host"),
    ("http://[fe80::1%25eth0]:8000/", "vllm_url has an invalid host"),
    ("http:///v1", "vllm_url has no host"),
    ("http://127.0.0.1:8000/a\r\nX-Injected: 1", "vllm_url contains spaces or control"),
])
def test_parse_request_refuses_a_vllm_url_that_is_more_than_an_origin_and_a_base(
        url: str, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        request_of(url)


@pytest.mark.parametrize("url, chat_url", [
    ("http://h:8000", "http://h:8000/v1/chat/completions"),
    ("http://h:8000/", "http://h:8000/v1/chat/completions"),
    ("http://h:8000/base", "http://h:8000/base/v1/chat/completions"),
    ("http://h:8000/base/", "http://h:8000/base/v1/chat/completions"),
    ("https://API.Example.com./openai/", "https://api.example.com/openai/v1/chat/completions"),
    ("http://h:80/x", "http://h/x/v1/chat/completions"),
    ("https://b\u00fccher.example:8443", "https://xn--bcher-kva.example:8443/v1/chat/completions"),
    ("http://[::1]:8000/b", "http://[::1]:8000/b/v1/chat/completions"),
])
def test_the_chat_url_is_the_base_plus_the_chat_path(url: str, chat_url: str) -> None:
    assert request_of(url).chat_url == chat_url


def test_run_agent_calls_the_chat_path_under_the_base(server: FakeModelServer) -> None:
    request = request_of(server.url + "/base/")
    run_agent(request, request.agents[0], time.time() + 10)
    assert [r.path for r in server.requests()] == ["/base/v1/chat/completions"]


@pytest.mark.parametrize("url, allowed", [
    ("http://127.0.0.1:8000/v1", ["http://127.0.0.1:8000"]),
    ("http://LocalHost.:80/base", ["https://localhost:443", "http://localhost:80"]),
    ("https://b\u00fccher.example/", ["https://xn--bcher-kva.example:443"]),
    ("http://[::1]:8000", ["http://[::1]:8000"]),
    ("http://[0:0::1]:8000", ["http://[::1]:8000"]),
    ("http://[2001:DB8::A]", ["http://[2001:db8::a]:80"]),
    ("http://anything.example:1234", ["*"]),
])
def test_policy_allows_a_vllm_url_by_its_canonical_origin(url: str, allowed: list[str]) -> None:
    request = request_of(url, policy={"allowed_origins": allowed, "max_answer_bytes": 1000})
    assert request.max_answer_bytes == 1000


def test_without_a_policy_any_origin_and_the_default_cap() -> None:
    request = request_of("http://model.example:8000")
    assert request.max_answer_bytes == DEFAULT_MAX_ANSWER_BYTES == 65536
    assert request_of(policy={"max_answer_bytes": 10}).max_answer_bytes == 10


@pytest.mark.parametrize("url, policy, message", [
    ("http://127.0.0.1:8001", {"allowed_origins": ["http://127.0.0.1:8000"]},
     "vllm_url http://127.0.0.1:8001 is not in the allowed origins"),
    ("https://127.0.0.1:8000", {"allowed_origins": ["http://127.0.0.1:8000"]},
     "vllm_url https://127.0.0.1:8000 is not in the allowed origins"),
    ("http://ok.example.evil.com", {"allowed_origins": ["http://ok.example:80"]},
     "vllm_url http://ok.example.evil.com:80 is not in the allowed origins"),
    ("http://h:80", {"allowed_origins": ["http://H:80"]}, r"allowed_origins\[0\] is not a canonical"),
    ("http://h:80", {"allowed_origins": ["http://h"]}, r"allowed_origins\[0\] is not a canonical"),
    ("http://h:80", {"allowed_origins": []}, "vllm_url http://h:80 is not in the allowed origins"),
    ("http://h:80", {"allowed_origins": "*"}, "allowed_origins is not a list of origins"),
    ("http://h:80", {"allowed_origins": ["http://[0:0::1]:80"]}, r"\[0\] is not a canonical"),
    ("http://h:80", {"allowed_origins": ["*", "http://h:80"]}, 'mixes "\\*" with origins'),
    ("http://h:80", {"max_answer_bytes": 0}, "policy.max_answer_bytes is out of range"),
    ("http://h:80", {"max_answer_bytes": True}, "policy.max_answer_bytes is out of range"),
    ("http://h:80", ["*"], "policy is not an object"),
])
def test_policy_refuses_what_it_does_not_allow(url: str, policy: Any, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        request_of(url, policy=policy)


def test_deadline_defaults_to_the_request_timeout_and_refuses_garbage() -> None:
    request = request_of(constraints={"timeout_seconds": 42})
    assert parse_deadline(None, request, 1000.0) == 1042.0
    assert parse_deadline("1234.5", request, 1000.0) == 1234.5
    for bad in ("soon", "nan", "inf"):
        with pytest.raises(RequestError):
            parse_deadline(bad, request, 1000.0)


# ---------------------------------------------------------------------------------------------
# Prompts


@pytest.mark.parametrize("role, words", [
    ("DEV", ["software developer", "clean", "maintainable", "well-tested"]),
    ("QA", ["testing strategies", "edge cases", "bugs"]),
    ("ARCHITECT", ["system design", "scalability", "patterns"]),
    ("DEVOPS", ["deployment", "CI/CD", "reliability"]),
    ("DATA", ["data pipelines", "ETL", "data quality"]),
    ("dev", ["software developer"]),
])
def test_system_prompt_by_role(role: str, words: list[str]) -> None:
    prompt = system_prompt(role)
    for word in words:
        assert word in prompt


def test_system_prompt_of_other_roles_is_exact() -> None:
    assert system_prompt("SECURITY") == "You are an expert SECURITY engineer."


def test_user_prompt_is_task_plus_metadata_context() -> None:
    prompt = user_prompt(request_of(), agent())
    assert prompt == ("Add a retry to the Redis client.\n\nContext:\n- lang: go\n"
                      "- repo: functions")


def test_user_prompt_without_metadata_is_the_task() -> None:
    request = request_of(constraints={"metadata": {}})
    assert user_prompt(request, agent()) == "Add a retry to the Redis client."


def test_template_replaces_tokens_and_keeps_braces() -> None:
    prompt = user_prompt(request_of(), agent(role="QA", template=BRACES_TEMPLATE))
    assert prompt == ('Story story-1, task task-1 as QA:\nAdd a retry to the Redis client.\n'
                      'def f(): return {"a": 1}')


@pytest.mark.parametrize("template", ["{task!r}", "{0}", "{unknown}", "{{task}}x", "{", "}{"])
def test_template_never_evaluates_format_syntax(template: str) -> None:
    rendered = render_template(template, request_of(), agent())
    assert rendered == template.replace("{task}", "Add a retry to the Redis client.")


def test_template_substitutes_once() -> None:
    request = request_of(task_description="quote {role} and {task}")
    assert render_template("{task}", request, agent()) == "quote {role} and {task}"


def test_blank_template_falls_back_to_the_task() -> None:
    assert user_prompt(request_of(), agent(template="  ")).startswith("Add a retry")


def test_chat_body_shape() -> None:
    assert chat_body("m", "s", "u") == {
        "model": "m", "temperature": 0.7, "max_tokens": 2048,
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}


# ---------------------------------------------------------------------------------------------
# Truncation and the judge


def test_truncate_leaves_short_text() -> None:
    assert truncate("abc", 10) == "abc"


def test_truncate_cuts_to_limit_and_says_so() -> None:
    text = "x" * 10_000
    cut = truncate(text, 6000)
    assert len(cut) <= 6000
    assert cut.startswith("x" * 5000)
    assert "truncated by the deliberation job" in cut
    assert f"of {len(text)} characters omitted" in cut


@pytest.mark.parametrize("count, limit", [(1, 6000), (8, 6000), (16, 3000), (200, 1000)])
def test_proposal_limit_shares_the_prompt_budget(count: int, limit: int) -> None:
    assert proposal_limit(count) == limit


def test_judge_body_bounds_proposals_and_asks_for_a_schema() -> None:
    agents = [agent(f"a{i}") for i in range(16)]
    body = judge_body(request_of(), [(a, "y" * 50_000) for a in agents])
    assert body["model"] == "judge-model"
    user = body["messages"][1]["content"]
    assert len(user) < JUDGE_PROMPT_BUDGET + 16 * 200 + TASK_LIMIT
    assert user.count("truncated by the deliberation job") == 16
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "scores" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["required"] == ["scores"]
    item = schema["properties"]["scores"]["items"]
    assert item["required"] == ["agent_id", "score", "rationale"]
    assert item["properties"]["score"] == {"type": "number", "minimum": 0, "maximum": 1}
    assert item["properties"]["agent_id"]["enum"] == [a.agent_id for a in agents]


def scores_json(*items: Any) -> str:
    return json.dumps({"scores": list(items)})


def test_parse_scores_accepts_every_agent_once() -> None:
    scoring = parse_scores(scores_json(
        {"agent_id": "a1", "score": 0.25, "rationale": "ok\nfine"},
        {"agent_id": "a2", "score": 1, "rationale": "best"}), ["a1", "a2"])
    assert scoring.scores == {"a1": 0.25, "a2": 1.0}
    assert scoring.rationales == {"a1": "ok fine", "a2": "best"}
    assert scoring.error == ""


def test_parse_scores_accepts_a_fenced_answer_and_clamps_float_noise() -> None:
    content = "```json\n" + scores_json({"agent_id": "a1", "score": 1.0000000001,
                                         "rationale": ""}) + "\n```"
    assert parse_scores(content, ["a1"]).scores == {"a1": 1.0}


@pytest.mark.parametrize("content, message", [
    ("the best is a1", "judge answered invalid JSON"),
    ('{"score": 1}', "no scores list"),
    (scores_json({"agent_id": "a1", "score": 1.5, "rationale": ""}), "score 1.5, outside"),
    (scores_json({"agent_id": "a1", "score": -0.1, "rationale": ""}), "outside"),
    (scores_json({"agent_id": "a1", "score": "0.5", "rationale": ""}), "not a number"),
    (scores_json({"agent_id": "a1", "score": True, "rationale": ""}), "not a number"),
    (scores_json({"agent_id": "zz", "score": 0.5, "rationale": ""}), "unknown agent zz"),
    (scores_json({"agent_id": "a1", "score": 0.5, "rationale": ""},
                 {"agent_id": "a1", "score": 0.6, "rationale": ""}), "a1 twice"),
    (scores_json({"agent_id": "a1", "score": 0.5, "rationale": ""}), "did not score agent a2"),
    (scores_json("a1"), "not an object"),
])
def test_parse_scores_refuses_what_it_cannot_trust(content: str, message: str) -> None:
    with pytest.raises(ScoringError, match=message):
        parse_scores(content, ["a1", "a2"] if "a2" in message else ["a1"])


def test_judge_failure_zeroes_scores_with_the_reason(server: FakeModelServer) -> None:
    server.set_model("judge-model", Behaviour(fail_status=500))
    request = request_of(server.url, constraints={"max_retries": 1})
    scoring = score_proposals(request, [(agent("a1"), "p")], time.time() + 10)
    assert scoring.error == "judge failed: model server answered 500 after 2 attempts"
    result = build_result((agent("a1"),), {"a1": success("a1")}, scoring, "")
    assert result["agent_results"][0]["score"] == 0.0
    assert result["scoring_error"] == scoring.error


# ---------------------------------------------------------------------------------------------
# Result


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
# Calls and answers


@pytest.mark.parametrize("message, proposal, reasoning", [
    ({"content": "do X", "reasoning_content": "because Y"}, "do X", "because Y"),
    ({"content": "<think>\nweigh A\n</think>\ndo X"}, "do X", "weigh A"),
    ({"content": "## Plan\ndo X\n## Reasoning\nbecause Y\n## Risks\nnone"},
     "## Plan\ndo X\n## Reasoning\nbecause Y\n## Risks\nnone", "because Y"),
    ({"content": "**Reasoning:**\nbecause Y"}, "**Reasoning:**\nbecause Y", "because Y"),
    ({"content": "just do X"}, "just do X", ""),
])
def test_split_reasoning(message: dict[str, str], proposal: str, reasoning: str) -> None:
    assert split_reasoning(message) == (proposal, reasoning)


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    assert backoff_delay(1, 0, lambda: 0.0) == 0.25
    assert backoff_delay(1, 0, lambda: 1.0) == 0.5
    assert backoff_delay(3, 0, lambda: 1.0) == 2.0
    assert backoff_delay(20, 0, lambda: 1.0) == BACKOFF_CAP_S
    assert backoff_delay(1, 3.0, lambda: 0.0) == 3.0
    assert backoff_delay(1, 600.0, lambda: 0.0) == BACKOFF_CAP_S


def test_retries_transient_failures_then_succeeds(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(fail_status=503, fail_times=2))
    answer = call_with_retries(server.url + CHAT_PATH, {"model": "m1"}, time.time() + 10,
                                   3, "", sleep=lambda _: None)
    assert first_message(answer)["content"] == "proposal from m1"
    assert len(server.chat_requests("m1")) == 3


def test_gives_up_after_max_retries(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(fail_status=429))
    with pytest.raises(CallError, match=r"^model server answered 429 after 3 attempts$"):
        call_with_retries(server.url + CHAT_PATH, {"model": "m1"}, time.time() + 10, 2,
                              "", sleep=lambda _: None)
    assert len(server.chat_requests("m1")) == 3


def test_client_errors_fail_at_once(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(fail_status=404))
    with pytest.raises(CallError, match=r"^model server answered 404: fake failure of m1$"):
        call_with_retries(server.url + CHAT_PATH, {"model": "m1"}, time.time() + 10, 3,
                              "", sleep=lambda _: None)
    assert len(server.chat_requests("m1")) == 1


def test_unreachable_server_is_transient() -> None:
    with pytest.raises(CallError, match=r"^cannot reach model server .* after 2 attempts$"):
        call_with_retries("http://127.0.0.1:9/v1/chat/completions", {}, time.time() + 10, 1,
                              "", sleep=lambda _: None)


def test_a_stalled_call_stops_at_the_deadline(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(stall=True))
    started = time.time()
    with pytest.raises(CallError) as err:
        call_with_retries(server.url + CHAT_PATH, {"model": "m1"}, started + 1.0, 3, "")
    assert time.time() - started < 1.5
    assert str(err.value) == "deadline reached after 1 attempt (last: model server timed out)"


def test_no_retry_sleeps_past_the_deadline(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(fail_status=503))
    slept: list[float] = []
    with pytest.raises(CallError, match=r"^deadline reached after 1 attempt"):
        call_with_retries(server.url + CHAT_PATH, {"model": "m1"}, time.time() + 0.5, 5,
                              "", sleep=slept.append, rng=lambda: 1.0)
    assert slept == []


def test_run_agent_sends_the_key_and_reports_metadata_as_strings(
        server: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_API_KEY, API_KEY)
    server.set_model("m1", Behaviour(answer="<think>hmm</think>use a backoff", total_tokens=812))
    request = request_of(server.url)
    outcome = run_agent(request, request.agents[0], time.time() + 10)
    assert outcome["ok"] is True
    assert (outcome["proposal"], outcome["reasoning"]) == ("use a backoff", "hmm")
    assert outcome["metadata"]["model"] == "m1"
    assert outcome["metadata"]["tokens"] == "812"
    assert int(outcome["metadata"]["duration_ms"]) >= 0
    assert server.chat_requests()[0].headers["authorization"] == f"Bearer {API_KEY}"


@pytest.fixture
def other() -> Iterator[FakeModelServer]:
    """A second model server: where a redirect points, recording whatever reaches it."""
    fake = FakeModelServer()
    yield fake
    fake.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_and_the_key_stays_home(
        server: FakeModelServer, other: FakeModelServer, monkeypatch: pytest.MonkeyPatch,
        status: int) -> None:
    monkeypatch.setenv(ENV_API_KEY, API_KEY)
    server.set_model("m1", Behaviour(redirect_status=status,
                                     redirect_to=other.url + CHAT_PATH + "?token=s3cret"))
    request = request_of(server.url, constraints={"max_retries": 3})
    outcome = run_agent(request, request.agents[0], time.time() + 10)
    assert outcome == {"agent_id": "a1", "ok": False, "error": (
        f"model server redirected ({status}) to {other.url}; redirects are not followed")}
    assert not any("authorization" in r.headers for r in other.requests())
    assert other.requests() == [], "nothing reached the other host"
    assert len(server.chat_requests("m1")) == 1, "a redirect is final, not retried"


def test_a_relative_redirect_names_the_same_origin(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(redirect_status=302, redirect_to="/elsewhere?key=s3cret"))
    request = request_of(server.url)
    outcome = run_agent(request, request.agents[0], time.time() + 10)
    assert outcome["error"] == (
        f"model server redirected (302) to {server.url}; redirects are not followed")
    assert [r.path for r in server.requests()] == [CHAT_PATH]


def test_the_judge_never_follows_a_redirect(server: FakeModelServer, other: FakeModelServer,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_API_KEY, API_KEY)
    server.set_model("judge-model", Behaviour(redirect_status=302, redirect_to=other.url + "/x"))
    scoring = score_proposals(request_of(server.url), [(agent("a1"), "p")], time.time() + 10)
    assert scoring.error == (f"judge failed: model server redirected (302) to {other.url}; "
                             "redirects are not followed")
    assert other.requests() == []


def test_an_origin_outside_the_policy_fails_every_agent_without_a_call(
        server: FakeModelServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    agents = [{"agent_id": "a1", "role": "DEV", "model": "m1"},
              {"agent_id": "a2", "role": "QA", "model": "m2"}]
    raw = make_request(server.url + "/v1", agents,
                       policy={"allowed_origins": ["https://api.example.com:443"]})
    monkeypatch.setenv(ENV_REQUEST, json.dumps(raw))
    monkeypatch.setenv(ENV_DEADLINE, repr(time.time() + 30))
    monkeypatch.delenv(job.ENV_CALLBACK, raising=False)
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("ray.init called"))
    monkeypatch.setattr(job, "start_watchdog", lambda *args: threading.Timer(0, lambda: None))
    assert job.main() == EXIT_NO_PROPOSAL
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(RESULT_PREFIX))
    result = json.loads(line[len(RESULT_PREFIX):])
    error = f"unusable request: vllm_url {server.url} is not in the allowed origins"
    assert result["failures"] == [{"agent_id": "a1", "error": error},
                                  {"agent_id": "a2", "error": error}]
    assert server.requests() == []


@pytest.mark.parametrize("policy, answer, reasoning, limit", [
    ({"max_answer_bytes": 1000}, "\u20ac" * 3000, "\u00e9" * 2000, 1000),
    # Fewer characters than the cap, more bytes: the cap counts bytes of UTF-8.
    ({"max_answer_bytes": 1000}, "\u20ac" * 400, "\u00e9" * 600, 1000),
    (None, "x" * 70_000, "because " * 9000, 65536),  # the default cap
])
def test_a_huge_answer_is_cut_on_a_character_boundary_and_marked(
        server: FakeModelServer, policy: dict[str, Any] | None, answer: str, reasoning: str,
        limit: int) -> None:
    server.set_model("m1", Behaviour(answer=answer, reasoning=reasoning))
    request = request_of(server.url, **({"policy": policy} if policy else {}))
    outcome = run_agent(request, request.agents[0], time.time() + 10)
    assert outcome["ok"] is True, outcome
    for text, full in ((outcome["proposal"], answer), (outcome["reasoning"], reasoning.strip())):
        assert len(text.encode()) <= limit
        kept, marker = text.split("\n[... ")
        assert full.startswith(kept) and len(kept) > limit // 2 // 3
        total = len(full.encode())
        assert marker == (f"truncated by the deliberation job: {total - len(kept.encode())} of "
                          f"{total} bytes omitted]")
    assert outcome["metadata"]["truncated"] == "true"


@pytest.mark.parametrize("text", ["\u20ac" * 400, "\u00e9" * 501, "\U0001f600" * 251])
def test_the_cap_counts_bytes_not_characters(text: str) -> None:
    assert len(text) <= 1000 < len(text.encode())
    capped, cut = cap_answer(text, 1000)
    assert cut is True
    assert len(capped.encode()) <= 1000 and capped.startswith(text[:100])


def test_an_answer_within_the_cap_is_whole_and_unmarked(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="\u20ac" * 333, reasoning="r"))
    request = request_of(server.url, policy={"max_answer_bytes": 999})
    outcome = run_agent(request, request.agents[0], time.time() + 10)
    assert outcome["proposal"] == "\u20ac" * 333
    assert "truncated" not in outcome["metadata"]


@pytest.mark.parametrize("announce_length", [False, True])
def test_an_oversized_body_fails_the_agent_without_being_read(
        server: FakeModelServer, announce_length: bool) -> None:
    server.set_model("m1", Behaviour(stream_bytes=HUGE_BODY, announce_length=announce_length))
    request = request_of(server.url, policy={"max_answer_bytes": 1000},
                         constraints={"max_retries": 3})
    outcome = run_agent(request, request.agents[0], time.time() + 30)
    bound = 2 * 1000 + 64 * 1024
    assert outcome == {"agent_id": "a1", "ok": False,
                       "error": f"model server answer larger than {bound} bytes"}
    streams = server.streams()
    assert len(streams) == 1, "final: not retried"
    assert not streams[0].completed and streams[0].sent < streams[0].total


def test_the_judge_answer_has_the_same_bound(server: FakeModelServer) -> None:
    server.set_model("judge-model", Behaviour(stream_bytes=HUGE_BODY))
    request = request_of(server.url, policy={"max_answer_bytes": 1000})
    scoring = score_proposals(request, [(agent("a1"), "p")], time.time() + 30)
    assert scoring.error == f"judge failed: model server answer larger than {2000 + 65536} bytes"
    assert not server.streams()[0].completed


def test_the_streamed_fake_is_a_valid_answer() -> None:
    prefix, filler, suffix = streamed_completion(1000)
    body = json.loads(prefix + b"x" * filler + suffix)
    assert len(prefix) + filler + len(suffix) == 1000
    assert first_message(body)["content"] == "x" * filler


ESCAPED_ERROR = "\x1b[31mred\x1b[0m\x00\x07\nsecond\tline"


@pytest.mark.parametrize("body", [
    ESCAPED_ERROR.encode(),
    json.dumps({"error": {"message": ESCAPED_ERROR}}).encode(),
    json.dumps({"error": ESCAPED_ERROR}).encode(),
])
def test_error_text_loses_terminal_escapes_and_control_characters(
        server: FakeModelServer, body: bytes) -> None:
    server.set_model("m1", Behaviour(fail_status=400, error_body=body))
    request = request_of(server.url)
    outcome = run_agent(request, request.agents[0], time.time() + 10)
    assert outcome["error"] == "model server answered 400: red second line"


@pytest.mark.parametrize("text, clean", [
    ("\x1b[31mred\x1b[0m\x00\x07\nnext", "red next"),
    ("a\x1b]0;window title\x07b", "ab"),
    ("a\x1b]8;;http://x.example\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),
    ("a\x1bP1$r0m\x1b\\b", "ab"),
    ("a\x9b2Jb\x9d0;t\x9cc", "abc"),
    ("a\x1b(Bb\x1b7c", "abc"),
    ("a\x7f\x85b\x1c\x1f\u2028c", "a b c"),
    ("  many \t\r\n  spaces ", "many spaces"),
    ("unterminated \x1b]0;title", "unterminated"),
    ("caf\u00e9 \u20ac", "caf\u00e9 \u20ac"),
])
def test_clean_text_strips_escapes_and_controls(text: str, clean: str) -> None:
    assert clean_text(text) == clean


@pytest.mark.parametrize("behaviour, error", [
    (Behaviour(answer="   "), "model answered with an empty proposal"),
    (Behaviour(fail_status=400), "model server answered 400: fake failure of m1"),
])
def test_run_agent_turns_failures_into_messages(server: FakeModelServer, behaviour: Behaviour,
                                                error: str) -> None:
    server.set_model("m1", behaviour)
    request = request_of(server.url)
    outcome = run_agent(request, request.agents[0], time.time() + 10)
    assert outcome == {"agent_id": "a1", "ok": False, "error": error}


# ---------------------------------------------------------------------------------------------
# main, without Ray


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             deliberation: Any, deadline_in: float = 30.0) -> tuple[int, dict[str, Any]]:
    agents = [{"agent_id": "a1", "role": "DEV", "model": "m1"},
              {"agent_id": "a2", "role": "QA", "model": "m2"}]
    monkeypatch.setenv(ENV_REQUEST, json.dumps(make_request("http://127.0.0.1:9", agents)))
    monkeypatch.setenv(ENV_DEADLINE, repr(time.time() + deadline_in))
    monkeypatch.delenv(job.ENV_CALLBACK, raising=False)
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
    def broken(request: Request, budget: Budget, progress: Progress) -> None:
        raise RuntimeError("cluster exploded")

    code, result = run_main(monkeypatch, capsys, broken)
    assert code == EXIT_NO_PROPOSAL
    assert result["failures"] == [{"agent_id": "a1", "error": "job error (RuntimeError)"},
                                  {"agent_id": "a2", "error": "job error (RuntimeError)"}]


def test_main_keeps_finished_agents_when_scoring_never_happened(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def half(request: Request, budget: Budget, progress: Progress) -> None:
        progress.record(success("a2"))
        raise KeyError("bug")

    code, result = run_main(monkeypatch, capsys, half)
    assert code == EXIT_OK
    assert [r["agent_id"] for r in result["agent_results"]] == ["a2"]
    assert result["scoring_error"] == "job error (KeyError) before scoring"
    assert result["failures"] == [{"agent_id": "a1", "error": "job error (KeyError)"}]


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


# ---------------------------------------------------------------------------------------------
# The job on a real Ray head


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
        "RAY_EXECUTOR_CALLBACK_URL": server.url + "/events", "VLLM_API_KEY": API_KEY})
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
    assert run.result_at is not None and run.result_at <= event.started


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
