"""Tests of the calls to the model server against the fake: answers and their reasoning, retries
and backoff, the deadline, the API key, redirects never followed, the answer cap (bytes, streamed
oversized bodies) and error texts cleaned of terminal escapes."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from agent import split_reasoning
from conftest import API_KEY, agent, agent_outcome, call, judge_scoring, keys_for, no_sleep, request_of
from fakemodel_client import Behaviour, FakeModelServer, streamed_completion
from messages import clean_text
from model_client import (
    BACKOFF_CAP_S,
    CallError,
    backoff_delay,
    cap_answer,
    first_message,
)
from policy import CHAT_PATH

HUGE_BODY = 64 << 20  # more than any socket buffers hold, so a body read in full shows



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
    answer = call(server.url + CHAT_PATH, {"model": "m1"}, time.time() + 10,
                                   3, "", sleep=no_sleep)
    assert first_message(answer)["content"] == "proposal from m1"
    assert len(server.chat_requests("m1")) == 3


def test_gives_up_after_max_retries(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(fail_status=429))
    with pytest.raises(CallError, match=r"^model server answered 429 after 3 attempts$"):
        call(server.url + CHAT_PATH, {"model": "m1"}, time.time() + 10, 2,
                              "", sleep=no_sleep)
    assert len(server.chat_requests("m1")) == 3


def test_client_errors_fail_at_once(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(fail_status=404))
    with pytest.raises(CallError, match=r"^model server answered 404: fake failure of m1$"):
        call(server.url + CHAT_PATH, {"model": "m1"}, time.time() + 10, 3,
                              "", sleep=no_sleep)
    assert len(server.chat_requests("m1")) == 1


def test_unreachable_server_is_transient() -> None:
    with pytest.raises(CallError, match=r"^cannot reach model server .* after 2 attempts$"):
        call("http://127.0.0.1:9/v1/chat/completions", {}, time.time() + 10, 1,
                              "", sleep=no_sleep)


def test_a_stalled_call_stops_at_the_deadline(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(stall=True))
    started = time.time()
    with pytest.raises(CallError) as err:
        call(server.url + CHAT_PATH, {"model": "m1"}, started + 1.0, 3, "")
    assert time.time() - started < 1.5
    assert str(err.value) == "deadline reached after 1 attempt (last: model server timed out)"


def test_no_retry_sleeps_past_the_deadline(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(fail_status=503))
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    with pytest.raises(CallError, match=r"^deadline reached after 1 attempt"):
        call(server.url + CHAT_PATH, {"model": "m1"}, time.time() + 0.5, 5,
                              "", sleep=sleep, rng=lambda: 1.0)
    assert slept == []


def test_run_agent_sends_the_key_and_reports_metadata_as_strings(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(answer="<think>hmm</think>use a backoff", total_tokens=812))
    request = request_of(server.url)
    outcome = agent_outcome(request, request.agents[0], time.time() + 10, keys=keys_for(server))
    assert outcome["ok"] is True
    assert (outcome["proposal"], outcome["reasoning"]) == ("use a backoff", "hmm")
    assert outcome["metadata"]["model"] == "m1"
    assert outcome["metadata"]["tokens"] == "812"
    assert int(outcome["metadata"]["duration_ms"]) >= 0
    assert server.chat_requests()[0].headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_and_the_key_stays_home(
        server: FakeModelServer, other: FakeModelServer, status: int) -> None:
    server.set_model("m1", Behaviour(redirect_status=status,
                                     redirect_to=other.url + CHAT_PATH + "?token=s3cret"))
    request = request_of(server.url, constraints={"max_retries": 3})
    outcome = agent_outcome(request, request.agents[0], time.time() + 10, keys=keys_for(server))
    assert outcome == {"agent_id": "a1", "ok": False, "error": (
        f"model server redirected ({status}) to {other.url}; redirects are not followed")}
    assert not any("authorization" in r.headers for r in other.requests())
    assert other.requests() == [], "nothing reached the other host"
    assert len(server.chat_requests("m1")) == 1, "a redirect is final, not retried"


def test_a_relative_redirect_names_the_same_origin(server: FakeModelServer) -> None:
    server.set_model("m1", Behaviour(redirect_status=302, redirect_to="/elsewhere?key=s3cret"))
    request = request_of(server.url)
    outcome = agent_outcome(request, request.agents[0], time.time() + 10)
    assert outcome["error"] == (
        f"model server redirected (302) to {server.url}; redirects are not followed")
    assert [r.path for r in server.requests()] == [CHAT_PATH]


def test_the_judge_never_follows_a_redirect(server: FakeModelServer, other: FakeModelServer) -> None:
    server.set_model("judge-model", Behaviour(redirect_status=302, redirect_to=other.url + "/x"))
    scoring = judge_scoring(request_of(server.url), [(agent("a1"), "p")], time.time() + 10,
                            keys=keys_for(server))
    assert scoring.error == (f"judge failed: model server redirected (302) to {other.url}; "
                             "redirects are not followed")
    assert other.requests() == []


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
    outcome = agent_outcome(request, request.agents[0], time.time() + 10)
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
    outcome = agent_outcome(request, request.agents[0], time.time() + 10)
    assert outcome["proposal"] == "\u20ac" * 333
    assert "truncated" not in outcome["metadata"]


@pytest.mark.parametrize("announce_length", [False, True])
def test_an_oversized_body_fails_the_agent_without_being_read(
        server: FakeModelServer, announce_length: bool) -> None:
    server.set_model("m1", Behaviour(stream_bytes=HUGE_BODY, announce_length=announce_length))
    request = request_of(server.url, policy={"max_answer_bytes": 1000},
                         constraints={"max_retries": 3})
    outcome = agent_outcome(request, request.agents[0], time.time() + 30)
    bound = 2 * 1000 + 64 * 1024
    assert outcome == {"agent_id": "a1", "ok": False,
                       "error": f"model server answer larger than {bound} bytes"}
    streams = server.streams()
    assert len(streams) == 1, "final: not retried"
    assert not streams[0].completed and streams[0].sent < streams[0].total


def test_the_judge_answer_has_the_same_bound(server: FakeModelServer) -> None:
    server.set_model("judge-model", Behaviour(stream_bytes=HUGE_BODY))
    request = request_of(server.url, policy={"max_answer_bytes": 1000})
    scoring = judge_scoring(request, [(agent("a1"), "p")], time.time() + 30)
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
    outcome = agent_outcome(request, request.agents[0], time.time() + 10)
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
    outcome = agent_outcome(request, request.agents[0], time.time() + 10)
    assert outcome == {"agent_id": "a1", "ok": False, "error": error}
