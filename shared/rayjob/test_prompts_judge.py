"""Tests of what the job asks the model: the system and user prompts, templates, the chat body,
and the judge (truncated proposals, the scores schema, parsing and refusing its answer, a failed
judge zeroing the scores)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conftest import BRACES_TEMPLATE, agent, judge_scoring, request_of, success
from fakemodel_client import Behaviour, FakeModelServer
from judge import ScoringError, parse_scores
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
from result import build_result


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
    scoring = judge_scoring(request, [(agent("a1"), "p")], time.time() + 10)
    assert scoring.error == "judge failed: model server answered 500 after 2 attempts"
    result = build_result((agent("a1"),), {"a1": success("a1")}, scoring, "")
    assert result["agent_results"][0]["score"] == 0.0
    assert result["scoring_error"] == scoring.error
