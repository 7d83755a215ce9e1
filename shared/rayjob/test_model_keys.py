"""The model servers' keys bound to their origins: every case of contract/model_keys.json (which
the functions' Go tests read too) through load_keys, and what a call carries."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import agent_outcome, request_of
from fakemodel_client import Behaviour, FakeModelServer
from model_client import ModelClient
from model_keys import ENV_API_KEYS_FILE, Keys, KeysError, load_keys
from policy import canonical_origin, parse_origin_list

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent / "contract" / "model_keys.json").read_text(encoding="utf-8")
)["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_model_keys_case(case: dict[str, Any], tmp_path: Path) -> None:
    env = dict(case["env"])
    if "file" in env:
        path = tmp_path / "keys"
        path.write_text(env.pop("file"), encoding="utf-8")
        env[ENV_API_KEYS_FILE] = str(path)
    allowed = parse_origin_list(case["allowed"], "allowed")
    if "refused" in case:
        with pytest.raises(KeysError) as err:
            load_keys(env, allowed)
        assert case["refused"] in str(err.value)
        for value in case["env"].values():  # no key is repeated
            for secret in ("sk-a", "sk-b", "sk-one", "sk-other", "sk-secret-only", "sk a"):
                if secret in value:
                    assert secret not in str(err.value)
        return
    assert dict(load_keys(env, allowed).by_origin) == case["keys"]


def test_an_unreadable_keys_file_is_refused_without_its_content(tmp_path: Path) -> None:
    with pytest.raises(KeysError, match="cannot be read"):
        load_keys({ENV_API_KEYS_FILE: str(tmp_path / "missing")}, ("https://a.example:443",))


def test_a_call_to_origin_b_never_carries_the_key_of_a(server: FakeModelServer, other: FakeModelServer) -> None:
    a, b = canonical_origin(server.url), canonical_origin(other.url)
    keys = load_keys({"VLLM_API_KEYS": f"{a}=sk-a,{b}=sk-b"}, (a, b))
    for fake in (server, other):
        fake.set_model("m1", Behaviour(answer="p"))
    request = request_of(other.url)
    assert agent_outcome(request, request.agents[0], time.time() + 10, keys=keys)["ok"] is True
    assert [r.headers.get("authorization") for r in other.chat_requests()] == ["Bearer sk-b"]
    assert server.requests() == []
    # An origin without a key of its own gets no Authorization header at all.
    unkeyed = request_of(server.url)
    agent_outcome(unkeyed, unkeyed.agents[0], time.time() + 10, keys=Keys({b: "sk-b"}))
    assert [r.headers.get("authorization") for r in server.chat_requests()] == [None]


def test_the_client_picks_the_key_by_the_url_it_calls() -> None:
    client = ModelClient(keys=Keys({"http://a.example:80": "sk-a"}))
    assert client.keys.for_url("http://A.example/v1/chat/completions") == "sk-a"
    assert client.keys.for_url("http://a.example:8080/v1") == ""
    assert client.keys.for_url("https://a.example/v1") == ""
    assert "sk-a" not in repr(client.keys)
