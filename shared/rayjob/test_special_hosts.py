"""The special hosts "*" does not reach: every case of contract/special_hosts.json against the
job's policy (the request's "*") and the runner's and the job's own limits ("*" of their own). The
functions' Go tests read the same file (shared/config/special_hosts_contract_test.go)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import make_request
from limits import Limits
from policy import canonical_origin, parse_vllm_url, special_host
from request import RequestError, parse_request

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent / "contract" / "special_hosts.json").read_text(encoding="utf-8")
)["cases"]
AGENTS = [{"agent_id": "a1", "role": "DEV", "model": "m1"}]


def test_the_table_has_cases_of_both_kinds() -> None:
    assert any(c["special"] for c in CASES) and any(not c["special"] for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["url"] for c in CASES])
def test_special_host_case(case: dict[str, Any]) -> None:
    url, special = case["url"], case["special"]
    origin = canonical_origin(url)
    host = origin.split("://", 1)[1].rsplit(":", 1)[0]
    assert special_host(host) is special, url
    # The request's "*": parse_request refuses a special host, naming it.
    raw = json.dumps(make_request(url, AGENTS, policy={"allowed_origins": ["*"], "max_answer_bytes": 1000}))
    if special:
        with pytest.raises(RequestError, match="link-local or cloud metadata address"):
            parse_request(raw)
    else:
        assert parse_request(raw).origin == origin
    # The runner's own "*" refuses it too, even when the entry's policy names it.
    request = parse_request(json.dumps(make_request(url, AGENTS, policy={"allowed_origins": [origin]})))
    refusals = Limits(allowed_origins=None).refusals(request, time.time() + 10, "", time.time(), "the runner's")
    assert bool(refusals) is special, (url, refusals)
    # A list that names the origin reaches it.
    assert Limits(allowed_origins=(origin,)).refusals(request, time.time() + 10, "", time.time(), "x") == []
    assert parse_vllm_url(url).origin == origin
