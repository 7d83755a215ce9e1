"""The job's own limits (limits.py) from its environment, which the functions set beside the
request: a request outside them, or keys that do not fit them, is an unusable request whose result
names why, and the model server it names is never called. The job runs as main() here: the
refusal comes before Ray is joined."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import deliberation_job as job
from conftest import make_request
from fakemodel_client import Behaviour, FakeModelServer
from policy import canonical_origin
from request import ENV_DEADLINE, ENV_REQUEST
from result import EXIT_NO_PROPOSAL, RESULT_PREFIX

AGENT = {"agent_id": "a1", "role": "DEV", "model": "m1"}


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], request: dict[str, Any],
        env: dict[str, str], deadline_in: float = 30.0) -> dict[str, Any]:
    for name in ("RAY_EXECUTOR_ALLOWED_ORIGINS", "RAY_EXECUTOR_MAX_AGENTS", "RAY_EXECUTOR_MAX_ANSWER_BYTES",
                 "RAY_EXECUTOR_MAX_TIMEOUT_S", "VLLM_API_KEY", "VLLM_API_KEYS", "VLLM_API_KEYS_FILE", job.ENV_CALLBACK):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_REQUEST, json.dumps(request))
    monkeypatch.setenv(ENV_DEADLINE, repr(time.time() + deadline_in))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert job.main() == EXIT_NO_PROPOSAL
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith(RESULT_PREFIX)]
    result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX):])
    errors = {f["error"] for f in result["failures"]}
    assert len(errors) == 1 and result["completed_agents"] == 0, result
    return result


def error_of(result: dict[str, Any]) -> str:
    error: str = result["failures"][0]["error"]
    assert error.startswith("unusable request: "), error
    return error


@pytest.mark.parametrize("env, request_overrides, why", [
    ({}, {}, "is not in the job's allowed_origins"),  # no list of its own: nothing is allowed
    ({"RAY_EXECUTOR_ALLOWED_ORIGINS": "http://other.example:8000"}, {}, "is not in the job's allowed_origins"),
    ({"RAY_EXECUTOR_ALLOWED_ORIGINS": "*", "RAY_EXECUTOR_MAX_AGENTS": "2"},
     {"agents": [{"agent_id": f"a{i}", "role": "DEV", "model": "m1"} for i in range(5000)]},
     "5000 agents, the job's max_agents is 2"),
    ({"RAY_EXECUTOR_ALLOWED_ORIGINS": "*", "RAY_EXECUTOR_MAX_ANSWER_BYTES": "65536"},
     {"policy": {"allowed_origins": ["*"], "max_answer_bytes": 10**12}}, "above the job's max_answer_bytes 65536"),
    ({"RAY_EXECUTOR_ALLOWED_ORIGINS": "*", "VLLM_API_KEYS": "https://a.example=sk-a"}, {},
     '"*" allows any model server'),
    ({"RAY_EXECUTOR_ALLOWED_ORIGINS": "http://a.example,http://b.example", "VLLM_API_KEY": "sk-one"}, {},
     "exactly one allowed origin"),
])
def test_a_request_outside_the_jobs_own_limits_is_never_called(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], server: FakeModelServer,
        env: dict[str, str], request_overrides: dict[str, Any], why: str) -> None:
    server.set_model("m1", Behaviour(answer="p"))
    agents = request_overrides.pop("agents", [AGENT])
    result = run(monkeypatch, capsys, make_request(server.url, agents, **request_overrides), env)
    error = error_of(result)
    assert why in error, error
    assert "sk-" not in error
    assert server.requests() == []
    if len(agents) > 2:
        assert len(result["failures"]) == 1, "the refused agents are not repeated"


def test_a_metadata_address_is_refused_under_the_jobs_star(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = "http://169.254.169.254"
    request = make_request(url, [AGENT], policy={"allowed_origins": [canonical_origin(url)]})
    error = error_of(run(monkeypatch, capsys, request, {"RAY_EXECUTOR_ALLOWED_ORIGINS": "*"}))
    assert "is a link-local or cloud metadata address" in error
