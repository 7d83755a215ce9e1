"""A holder of Redis access forges the runner's work: stream entries written straight into the
queue of a real redis-server, as no function would write them. The runner's own settings decide
(limits.py): each forged entry ends as a FAILED result naming why, and the model server named in
it never sees a call; the wake-up goes to the runner's own callback only; and a call carries the
key of the origin it goes to, from the runner's environment, never another origin's."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from conftest import contract_key, make_request, queue_is_empty, start_runner, wait_result
from fakemodel_client import Behaviour, FakeModelServer
from policy import canonical_origin
from runner_consumer import Runner
from runner_settings import Settings

AGENT = {"agent_id": "a1", "role": "DEV", "model": "m1"}


def forge(client: redis.Redis, attempt: str, request: dict[str, Any], callback: str = "",
          deadline_in: float = 30.0) -> None:
    """An entry and its marker, as whoever can write to Redis writes them."""
    client.hset(contract_key("attempt", attempt), mapping={"state": "PENDING"})
    client.xadd(contract_key("queue", attempt), {"attempt": attempt, "request": json.dumps(request),
                                           "deadline": repr(time.time() + deadline_in), "callback": callback})


def refused(client: redis.Redis, attempt: str) -> str:
    """The one failure of a refused attempt's stored result."""
    record = wait_result(client, attempt)
    assert record["state"] == "FAILED" and record["infrastructure"] is False, record
    result = record["result"]
    assert result["completed_agents"] == 0 and result["agent_results"] == [], result
    errors = {f["error"] for f in result["failures"]}
    assert len(errors) == 1, errors
    error: str = errors.pop()
    assert error.startswith("unusable request: "), error
    return error


def policy_for(*urls: str, max_answer_bytes: int = 65536) -> dict[str, Any]:
    """A policy the forger writes to suit itself: its own server allowed."""
    return {"allowed_origins": [canonical_origin(u) for u in urls], "max_answer_bytes": max_answer_bytes}


@pytest.fixture
def own(other: FakeModelServer, client: redis.Redis, runners: list[Runner], redis_url: str) -> Runner:
    """A runner whose own list allows `other` only, and whose wake-ups go to other's /events."""
    other.set_model("m1", Behaviour(answer="p"))
    return start_runner(redis_url, runners, allowed_origins=(canonical_origin(other.url),),
                        callback_url=other.url + "/events", max_agents=16, max_answer_bytes=65536,
                        max_timeout_s=3600)


def test_an_origin_outside_the_runners_list_is_never_called(
        client: redis.Redis, own: Runner, server: FakeModelServer, other: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="p"))
    forge(client, "forged-origin", make_request(server.url, [AGENT], policy=policy_for(server.url)))
    error = refused(client, "forged-origin")
    assert f"vllm_url {canonical_origin(server.url)} is not in the runner's allowed_origins" in error
    assert server.requests() == [], "the model server named by the entry saw no call"
    assert other.chat_requests() == []
    assert queue_is_empty(client)


def test_without_a_policy_the_runners_list_still_decides(
        client: redis.Redis, own: Runner, server: FakeModelServer) -> None:
    request = make_request(server.url, [AGENT])  # no policy: "any origin" as far as the entry says
    forge(client, "forged-nopolicy", request)
    assert "is not in the runner's allowed_origins" in refused(client, "forged-nopolicy")
    assert server.requests() == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://[fd00:ec2::254]",
                                 "http://metadata.google.internal", "http://[64:ff9b::a9fe:a9fe]"])
def test_a_metadata_address_is_refused_under_the_runners_star(
        client: redis.Redis, runners: list[Runner], redis_url: str, url: str) -> None:
    start_runner(redis_url, runners, allowed_origins=None)
    forge(client, "forged-metadata", make_request(url, [AGENT], policy=policy_for(url)))
    error = refused(client, "forged-metadata")
    assert "is a link-local or cloud metadata address" in error, error
    assert "cannot reach" not in error, "refused before any connection"


def test_a_foreign_callback_is_refused_and_gets_no_wakeup(
        client: redis.Redis, own: Runner, server: FakeModelServer, other: FakeModelServer) -> None:
    forge(client, "forged-callback", make_request(other.url, [AGENT], policy=policy_for(other.url)),
          callback=server.url + "/collect?who=me")
    error = refused(client, "forged-callback")
    assert f"the callback {canonical_origin(server.url)} is not the runner's callback_url" in error
    assert other.chat_requests() == [], "an allowed model server is not called for a refused entry"
    time.sleep(0.3)
    assert server.requests() == [], "the foreign callback got nothing"
    assert [e.path for e in other.events()] == ["/events"], "the wake-up went to the runner's own callback"


def test_five_thousand_agents_are_refused_without_a_call(
        client: redis.Redis, own: Runner, other: FakeModelServer) -> None:
    agents = [{"agent_id": f"a{i}", "role": "DEV", "model": "m1"} for i in range(5000)]
    forge(client, "forged-agents", make_request(other.url, agents, policy=policy_for(other.url)))
    error = refused(client, "forged-agents")
    assert "5000 agents, the runner's max_agents is 16" in error
    result = wait_result(client, "forged-agents")["result"]
    assert len(result["failures"]) == 1, "the 5,000 agents are not repeated in the result"
    assert other.chat_requests() == []


def test_a_huge_answer_cap_is_refused(client: redis.Redis, own: Runner, other: FakeModelServer) -> None:
    forge(client, "forged-cap", make_request(other.url, [AGENT],
                                             policy=policy_for(other.url, max_answer_bytes=10**12)))
    error = refused(client, "forged-cap")
    assert "policy.max_answer_bytes 1000000000000 is above the runner's max_answer_bytes 65536" in error
    assert other.chat_requests() == []


def test_a_far_deadline_and_a_long_timeout_are_refused(
        client: redis.Redis, own: Runner, other: FakeModelServer) -> None:
    forge(client, "forged-time", make_request(other.url, [AGENT], policy=policy_for(other.url),
                                              constraints={"timeout_seconds": 86400}),
          deadline_in=10 * 86400)
    error = refused(client, "forged-time")
    assert "timeout_seconds 86400 is above the runner's max_timeout_s 3600" in error
    assert "beyond the runner's max_timeout_s 3600" in error
    assert other.chat_requests() == []


def test_an_entry_within_the_limits_runs(client: redis.Redis, own: Runner, other: FakeModelServer) -> None:
    """The guard refuses what is outside, not everything: the functions' own entry runs."""
    forge(client, "genuine", make_request(other.url, [AGENT], policy=policy_for(other.url)),
          callback=other.url + "/events")
    assert wait_result(client, "genuine")["state"] == "SUCCEEDED"
    assert len(other.agent_requests()) == 1


def test_a_call_carries_only_the_key_of_its_origin(
        client: redis.Redis, runners: list[Runner], redis_url: str, server: FakeModelServer,
        other: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = canonical_origin(server.url), canonical_origin(other.url)
    monkeypatch.setenv("VLLM_API_KEYS", f"{a}=sk-key-of-a,{b}=sk-key-of-b")
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    for fake in (server, other):
        fake.set_model("m1", Behaviour(answer="p"))
    start_runner(redis_url, runners, allowed_origins=(a, b))
    forge(client, "to-b", make_request(other.url, [AGENT], policy=policy_for(server.url, other.url)))
    assert wait_result(client, "to-b")["state"] == "SUCCEEDED"
    calls = other.chat_requests()
    assert calls and {c.headers.get("authorization") for c in calls} == {"Bearer sk-key-of-b"}
    assert server.requests() == [], "origin A saw nothing, its key went nowhere"
    forge(client, "to-a", make_request(server.url, [AGENT], policy=policy_for(server.url, other.url)))
    assert wait_result(client, "to-a")["state"] == "SUCCEEDED"
    assert {c.headers.get("authorization") for c in server.chat_requests()} == {"Bearer sk-key-of-a"}


def test_a_key_with_the_runners_star_stops_the_replica_at_its_start(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_KEYS", "https://api.example=sk-x")
    with pytest.raises(ValueError, match=r'"\*" allows any model server'):
        Settings.from_args({"redis_url": redis_url, "allowed_origins": ["*"]})
    with pytest.raises(ValueError, match=r'"\*" allows any model server'):
        Runner(Settings(redis_url=redis_url, allowed_origins=None))
    monkeypatch.delenv("VLLM_API_KEYS")
    monkeypatch.setenv("VLLM_API_KEY", "sk-one")
    with pytest.raises(ValueError, match="exactly one allowed origin"):
        Settings.from_args({"redis_url": redis_url, "allowed_origins": ["https://a.example", "https://b.example"]})
    settings = Settings.from_args({"redis_url": redis_url, "allowed_origins": "https://a.example"})
    assert settings.keys().for_origin("https://a.example:443") == "sk-one"
    assert "sk-one" not in repr(settings.keys())
