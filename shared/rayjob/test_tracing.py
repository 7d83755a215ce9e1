"""The runner's spans (tracing.py), caught by an in-memory exporter: one deliberation through a real
Runner, redis-server and the fake model server continues the entry's trace with the queue wait,
the deliberation, an agent span per agent with a client span per attempt (the model server got each
attempt's traceparent), the judge, the stored result and the wake-up (its CloudEvent carries the
context); and, in a process of its own, tracing left off without an endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import tracing
from conftest import JOB_DIR, contract_key, make_request, start_runner, wait_result
from fakemodel_client import Behaviour, FakeModelServer
from runner_consumer import Runner

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
ENQUEUE_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{ENQUEUE_SPAN}-01"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """A provider of this module's own, its tracer in place of tracing.TRACER (which every module
    reads at each span) while the module runs: the other tests keep the no-op API."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tracing, "TRACER", provider.get_tracer("test"))
        yield memory
    provider.shutdown()


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def hex_id(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def finished(exporter: InMemorySpanExporter, name: str, count: int = 1, within: float = 10.0) -> list[ReadableSpan]:
    until = time.time() + within
    while time.time() < until:
        found = [span for span in exporter.get_finished_spans() if span.name == name]
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} {name!r} spans within {within} s")


def parent_id(span: ReadableSpan) -> str:
    assert span.parent is not None, f"{span.name} has no parent"
    return hex_id(span.parent.span_id, 16)


def span_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return hex_id(span.context.span_id, 16)


def trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return hex_id(span.context.trace_id, 32)


def test_a_deliberation_continues_the_entry_trace(spans: InMemorySpanExporter, redis_url: str,
                                                   server: FakeModelServer, runners: list[Runner]) -> None:
    # a1 answers at once, a2 after a 503: its agent span has two attempt spans.
    server.set_model("m2", Behaviour(fail_status=503, fail_times=1))
    agents = [{"agent_id": "a1", "role": "DEV", "model": "m1"}, {"agent_id": "a2", "role": "QA", "model": "m2"}]
    request = make_request(server.url, agents, deliberation_id="delib-traced")
    client = redis.Redis.from_url(redis_url)
    client.hset(contract_key("attempt", "att-traced"), mapping={"state": "PENDING"})
    entry = client.xadd(contract_key("queue", "att-traced"), {
        "attempt": "att-traced", "request": json.dumps(request), "deadline": repr(time.time() + 30),
        "callback": server.url + "/wakeup", "traceparent": TRACEPARENT, "tracestate": "vendor=1"})
    start_runner(redis_url, runners, callback_url=server.url + "/wakeup")  # the runner's own wake-up target
    assert wait_result(client, "att-traced")["state"] == "SUCCEEDED"

    [deliberation] = finished(spans, tracing.DELIBERATION)
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans.get_finished_spans():
        by_name.setdefault(span.name, []).append(span)
    every = spans.get_finished_spans()
    assert {trace_id(span) for span in every} == {TRACE_ID}, "every span is on the entry's trace"

    [wait] = by_name[tracing.QUEUE_WAIT]
    assert parent_id(wait) == ENQUEUE_SPAN and wait.kind == SpanKind.CONSUMER
    # From the enqueue (the entry id's milliseconds) to the pick-up.
    entry_id = entry.decode() if isinstance(entry, bytes) else str(entry)
    assert wait.start_time == int(entry_id.split("-")[0]) * 1_000_000
    assert wait.end_time is not None and wait.start_time <= wait.end_time
    assert parent_id(deliberation) == span_id(wait)
    assert deliberation.attributes is not None
    assert deliberation.attributes[tracing.DELIBERATION_ID] == "delib-traced"
    assert deliberation.attributes[tracing.SUBMISSION_ID] == "att-traced"
    assert deliberation.attributes[tracing.OUTCOME] == "SUCCEEDED"
    assert deliberation.context is not None and deliberation.context.trace_state.get("vendor") == "1"

    agent_spans = {str(span.attributes[tracing.AGENT_ID]): span for span in by_name[tracing.AGENT] if span.attributes}
    assert sorted(agent_spans) == ["a1", "a2"]
    assert all(parent_id(span) == span_id(deliberation) for span in agent_spans.values())
    [judge] = by_name[tracing.JUDGE]
    assert parent_id(judge) == span_id(deliberation)
    for name in (tracing.STORE_RESULT, tracing.WAKEUP):
        [span] = by_name[name]
        assert parent_id(span) == span_id(deliberation), name

    calls = by_name["chat m1"] + by_name["chat m2"] + by_name["chat judge-model"]
    under = {span_id(span): [call for call in calls if parent_id(call) == span_id(span)]
             for span in [*agent_spans.values(), judge]}
    first = under[span_id(agent_spans["a1"])]
    assert [(call.attributes or {}).get(tracing.CALL_ATTEMPT) for call in first] == [1]
    retried = sorted(under[span_id(agent_spans["a2"])], key=lambda call: call.start_time or 0)
    assert [(call.attributes or {}).get(tracing.CALL_ATTEMPT) for call in retried] == [1, 2]
    assert [(call.attributes or {}).get(tracing.STATUS_CODE) for call in retried] == [503, 200]
    assert retried[0].status.status_code == StatusCode.ERROR
    assert len(under[span_id(judge)]) == 1

    # The model server saw each attempt's own span as the parent of its request.
    sent = sorted(request.headers.get("traceparent", "") for request in server.chat_requests())
    assert sent == sorted(f"00-{TRACE_ID}-{span_id(call)}-01" for call in calls)
    [wakeup] = server.events()
    [wakeup_span] = by_name[tracing.WAKEUP]
    assert wakeup.headers["traceparent"] == wakeup.headers["ce-traceparent"] == \
        f"00-{TRACE_ID}-{span_id(wakeup_span)}-01"
    # queue wait, deliberation, 2 agents, 3 calls (one retry), judge and its call, result, wake-up
    assert len(every) == 11


def test_an_entry_without_trace_context_starts_a_trace(spans: InMemorySpanExporter, redis_url: str,
                                                       server: FakeModelServer, runners: list[Runner]) -> None:
    request = make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "m1"}])
    client = redis.Redis.from_url(redis_url)
    client.hset(contract_key("attempt", "att-untraced"), mapping={"state": "PENDING"})
    client.xadd(contract_key("queue", "att-untraced"), {"attempt": "att-untraced", "request": json.dumps(request),
                                               "deadline": repr(time.time() + 30), "callback": ""})
    start_runner(redis_url, runners)
    wait_result(client, "att-untraced")
    [deliberation] = finished(spans, tracing.DELIBERATION)
    [wait] = finished(spans, tracing.QUEUE_WAIT)
    assert wait.parent is None, "the queue wait is the new trace's root"
    assert parent_id(deliberation) == span_id(wait)
    assert {trace_id(span) for span in spans.get_finished_spans()} == {trace_id(wait)}


def test_tracing_off_without_an_endpoint() -> None:
    """In a fresh process: no endpoint, no provider; the entry's context still reaches the model
    server (the no-op tracer passes it through)."""
    code = """
import json, sys
import tracing
from opentelemetry import context, trace
started = tracing.start_tracing("t")
parent = tracing.remote_context(sys.argv[1])
token = context.attach(parent)
with tracing.TRACER.start_as_current_span("x") as span:
    headers = {}
    tracing.inject(headers)
print(json.dumps({"started": started, "recording": span.is_recording(), "headers": headers,
                  "provider": type(trace.get_tracer_provider()).__name__}))
"""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", code, TRACEPARENT], env=env, cwd=JOB_DIR, check=True,
                         capture_output=True, text=True).stdout
    seen: dict[str, Any] = json.loads(out)
    assert seen == {"started": False, "recording": False, "headers": {"traceparent": TRACEPARENT},
                    "provider": "ProxyTracerProvider"}


@pytest.mark.parametrize(("env", "want"), [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
])
def test_wanted(env: dict[str, str], want: bool) -> None:
    assert tracing.wanted(env) is want


def test_remote_context_refuses_a_malformed_traceparent() -> None:
    assert tracing.remote_context("") is None
    assert tracing.remote_context("00-zz-b7ad6b7169203331-01") is None
    assert tracing.remote_context(f"00-{'0' * 32}-{ENQUEUE_SPAN}-01") is None
    assert tracing.remote_context(TRACEPARENT) is not None
