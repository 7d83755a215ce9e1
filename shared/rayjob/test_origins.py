"""The URL-origin rules the job shares with the functions: every case of contract/origins.json
against the job's parser. The functions' Go tests read the same file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy import CHAT_PATH, DEFAULT_PORTS, canonical_origin, parse_vllm_url

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent / "contract" / "origins.json").read_text(encoding="utf-8")
)["cases"]


def test_the_contract_has_cases_of_both_kinds() -> None:
    assert any("origin" in c for c in CASES) and any("refused" in c for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[repr(c["url"]) for c in CASES])
def test_origin_case(case: dict[str, Any]) -> None:
    url = case["url"]
    if "refused" in case or "job_refuses" in case:
        with pytest.raises(ValueError):
            target = parse_vllm_url(url)
            pytest.fail(f"{url!r} accepted as {target}; the functions refuse it: "
                        f"{case.get('refused') or case['job_refuses']}")
        return
    target = parse_vllm_url(url)
    assert target.origin == case["origin"], url
    # The job calls the origin it checked, its default port left implicit, under the base path.
    scheme, hostport = case["origin"].split("://")
    netloc = hostport.removesuffix(":" + str(DEFAULT_PORTS[scheme]))
    assert target.chat_url == f"{scheme}://{netloc}{case['base']}{CHAT_PATH}", url
    # The canonical origin is a policy entry the job takes as canonical (it parses to itself).
    assert canonical_origin(case["origin"]) == case["origin"]
