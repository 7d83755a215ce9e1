"""Tests of the job's request: parsing and its defaults, the vllm_url (an origin and a base, the
chat URL under it), the deadline, and the policy the URL is checked against (allowed origins, the
answer cap), down to a request the policy refuses failing every agent without a call."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import ray

import deliberation_job as job
from conftest import agent_outcome, make_request, request_of
from fakemodel_client import FakeModelServer
from policy import DEFAULT_MAX_ANSWER_BYTES
from request import (
    DEFAULT_MAX_RETRIES,
    ENV_DEADLINE,
    ENV_REQUEST,
    Agent,
    RequestError,
    parse_deadline,
    parse_request,
)
from result import EXIT_NO_PROPOSAL, RESULT_PREFIX


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
    agent_outcome(request, request.agents[0], time.time() + 10)
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
