"""The job's spans on the tests' Ray head: the job run as a real Ray driver with TRACEPARENT and an
OTLP endpoint exports, over OTLP/HTTP to a receiver in this test, one trace continuing the
functions' submit span: the deliberation, an agent span per agent from its Ray task with its model
call (whose traceparent the fake model server got), the judge with its call, and the wake-up."""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

import tracing
from conftest import make_request, run_job
from fakemodel_client import FakeModelServer

TRACE_ID = "a3ce929d0e0e47364bf92f3577b34da6"
SUBMIT_SPAN = "53995c3f42cd8ad8"


@dataclass(frozen=True)
class Received:
    service: str
    name: str
    span_id: str
    parent_id: str
    trace_id: str
    attributes: dict[str, str]


class Receiver:
    """An OTLP/HTTP traces endpoint on 127.0.0.1 keeping what it decodes."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.add(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, request: ExportTraceServiceRequest) -> None:
        with self.lock:
            for resource in request.resource_spans:
                service = next((a.value.string_value for a in resource.resource.attributes
                                if a.key == "service.name"), "")
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        self.spans.append(Received(
                            service, span.name, span.span_id.hex(), span.parent_span_id.hex(), span.trace_id.hex(),
                            {a.key: a.value.string_value or str(a.value.int_value) for a in span.attributes}))

    def wait(self, names: set[str], within: float = 20.0) -> list[Received]:
        until = time.time() + within
        while True:
            with self.lock:
                spans = list(self.spans)
            if names <= {span.name for span in spans} or time.time() > until:
                return spans
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_a_job_continues_the_submit_span(ray_gcs_address: str, server: FakeModelServer, receiver: Receiver) -> None:
    agents = [{"agent_id": "a1", "role": "DEV", "model": "m1"}, {"agent_id": "a2", "role": "QA", "model": "m2"}]
    run = run_job(make_request(server.url, agents, deliberation_id="delib-job-traced"), ray_gcs_address, extra_env={
        "RAY_EXECUTOR_CALLBACK_URL": server.url + "/events", "TRACEPARENT": f"00-{TRACE_ID}-{SUBMIT_SPAN}-01",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url})
    assert run.returncode == 0, run.output()
    spans = receiver.wait({tracing.DELIBERATION, tracing.JUDGE, tracing.WAKEUP, tracing.AGENT})
    assert {span.trace_id for span in spans} == {TRACE_ID}, "one trace: the submit span's"
    assert {span.service for span in spans} == {tracing.JOB_SERVICE}
    [deliberation] = [s for s in spans if s.name == tracing.DELIBERATION]
    assert deliberation.parent_id == SUBMIT_SPAN
    assert deliberation.attributes[tracing.DISPATCH] == "jobs"
    assert deliberation.attributes[tracing.DELIBERATION_ID] == "delib-job-traced"
    agent_spans = [s for s in spans if s.name == tracing.AGENT]
    assert sorted(s.attributes[tracing.AGENT_ID] for s in agent_spans) == ["a1", "a2"], "each Ray task's span"
    [judge] = [s for s in spans if s.name == tracing.JUDGE]
    [wakeup] = [s for s in spans if s.name == tracing.WAKEUP]
    assert all(s.parent_id == deliberation.span_id for s in [*agent_spans, judge, wakeup])
    calls = [s for s in spans if s.name.startswith("chat ")]
    assert sorted(s.parent_id for s in calls) == sorted(s.span_id for s in [*agent_spans, judge])
    sent = sorted(r.headers.get("traceparent", "") for r in server.chat_requests())
    assert sent == sorted(f"00-{TRACE_ID}-{s.span_id}-01" for s in calls)
    [event] = server.events()
    assert event.headers["ce-traceparent"] == f"00-{TRACE_ID}-{wakeup.span_id}-01"
