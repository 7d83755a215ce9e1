"""The runner's and the job's spans: a tracer provider of their own (Ray's tracing hook is alpha and
Serve has open issues with it) set up from the OpenTelemetry SDK's standard variables, the W3C
context they continue (the stream entry's traceparent, the job's TRACEPARENT) and send on (to the
model server, in the wake-up), and the names of the spans and attributes an operator filters by.

Without OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) no provider is set: the API's no-op
tracer makes no span and records nothing, yet passes the caller's context through, so the model
server still sees the functions' traceparent. Spans are exported over OTLP HTTP/protobuf, in
batches on the SDK's background thread."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, MutableMapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from messages import log

ENV_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
ENV_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
ENV_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
ENV_TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
ENV_SDK_DISABLED = "OTEL_SDK_DISABLED"
ENV_SERVICE_NAME = "OTEL_SERVICE_NAME"
ENV_BSP_DELAY = "OTEL_BSP_SCHEDULE_DELAY"
ENV_BSP_BATCH = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
# The job's context, set by the functions' submit span.
ENV_TRACEPARENT = "TRACEPARENT"
ENV_TRACESTATE = "TRACESTATE"

# As the functions export (shared/transport/observe): small batches often, so no export holds the
# GIL long enough to show in the loop's p99; OTEL_BSP_* override them.
BATCH_DELAY_MS = 200
BATCH_SIZE = 64
FLUSH_TIMEOUT_MS = 5000

# The service names a span's resource has unless OTEL_SERVICE_NAME says otherwise.
RUNNER_SERVICE = "deliberation-runner"
JOB_SERVICE = "deliberation-job"

# Span names.
QUEUE_WAIT = "runner queue wait"
DELIBERATION = "deliberation"
AGENT = "agent"
JUDGE = "judge"
STORE_RESULT = "runner store result"
WAKEUP = "wake-up"

# Attributes, the functions' names where they have one.
DELIBERATION_ID = "rayexec.deliberation.id"
SUBMISSION_ID = "rayexec.submission.id"
AGENT_ID = "rayexec.agent.id"
AGENTS = "rayexec.agents"
DELIVERIES = "rayexec.deliveries"
DISPATCH = "rayexec.dispatch"
OUTCOME = "rayexec.outcome"
CALL_ATTEMPT = "rayexec.call.attempt"  # 1 for a call's first try, 2 for its first retry
MODEL = "gen_ai.request.model"
STATUS_CODE = "http.response.status_code"
ERROR_TYPE = "error.type"

TRACER = trace.get_tracer("rayexec.runner")
PROPAGATOR = TraceContextTextMapPropagator()

_lock = threading.Lock()
_provider: Any = None  # the SDK's TracerProvider once started


def wanted(env: Mapping[str, str]) -> bool:
    """Whether the environment asks for spans: an endpoint, and the SDK not disabled."""
    if env.get(ENV_SDK_DISABLED, "").strip().lower() == "true":
        return False
    return bool(env.get(ENV_TRACES_ENDPOINT, "").strip() or env.get(ENV_ENDPOINT, "").strip())


def start_tracing(service_name: str) -> bool:
    """Sets the process's tracer provider from the environment once (later calls, from any
    thread, find it set); False when tracing stays off."""
    global _provider
    with _lock:
        if _provider is not None:
            return True
        if not wanted(os.environ):
            return False
        protocol = os.environ.get(ENV_TRACES_PROTOCOL) or os.environ.get(ENV_PROTOCOL) or "http/protobuf"
        if protocol != "http/protobuf":
            log("warning", f"tracing: {protocol} is not supported here; exporting over http/protobuf", "")
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as err:
            # A Ray image without the runner's requirements: the work runs, untraced.
            log("warning", f"tracing off: the OpenTelemetry SDK is not installed ({err.name})", "")
            return False
        attributes = {} if os.environ.get(ENV_SERVICE_NAME) else {"service.name": service_name}
        provider = TracerProvider(resource=Resource.create(attributes))
        provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(),
            schedule_delay_millis=None if os.environ.get(ENV_BSP_DELAY) else BATCH_DELAY_MS,
            max_export_batch_size=None if os.environ.get(ENV_BSP_BATCH) else BATCH_SIZE))
        trace.set_tracer_provider(provider)
        _provider = provider
        return True


def otel_env(env: Mapping[str, str]) -> dict[str, str]:
    """The OpenTelemetry SDK's settings among env (what a job hands its tasks)."""
    return {name: value for name, value in env.items() if name.startswith("OTEL_")}


def flush(timeout_ms: int = FLUSH_TIMEOUT_MS) -> None:
    """Exports what is batched (a job's end, a Ray task's, a replica's stop)."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)


def remote_context(traceparent: str, tracestate: str = "") -> Context | None:
    """The context a carrier's W3C fields name; None (a new trace) without a valid traceparent."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    context = PROPAGATOR.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def env_context(env: Mapping[str, str]) -> Context | None:
    """The job's parent: the functions' submit span, from TRACEPARENT/TRACESTATE."""
    return remote_context(env.get(ENV_TRACEPARENT, ""), env.get(ENV_TRACESTATE, ""))


def inject(headers: MutableMapping[str, str], context: Context | None = None) -> None:
    """Adds traceparent (and tracestate) of the current span, or of context, to headers."""
    PROPAGATOR.inject(headers, context)


def current_traceparent() -> str:
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent", "")


def use_span(span: trace.Span) -> AbstractContextManager[trace.Span]:
    """A context manager making span the current one and ending it at the exit."""
    return trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False)


def start_span(name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
               attributes: Mapping[str, str | int | bool] | None = None,
               start_time: int | None = None) -> trace.Span:
    return TRACER.start_span(name, context, kind, dict(attributes or {}), start_time=start_time)
