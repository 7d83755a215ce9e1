"""The finished wake-up: a best-effort CloudEvent telling the status function to look now. It is a
client span whose context goes with the event, as the HTTP traceparent header and the CloudEvents
distributed-tracing extension (ce-traceparent): the status function's spans, and the lifecycle
event it publishes, join the deliberation's trace."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import aiohttp
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

import tracing
from messages import log

CALLBACK_TIMEOUT_S = 2.0
FINISHED_EVENT_TYPE = "dev.rayexecutor.deliberation.finished.v1"
FINISHED_EVENT_SOURCE = "/ray-executor/job"


def wakeup_headers(deliberation_id: str) -> dict[str, str]:
    """The event's headers; the current span's context as traceparent and ce-traceparent."""
    headers = {
        "ce-specversion": "1.0",
        "ce-type": FINISHED_EVENT_TYPE,
        "ce-source": FINISHED_EVENT_SOURCE,
        "ce-id": f"{deliberation_id}.finished",
        "Content-Type": "application/json",
    }
    trace_context: dict[str, str] = {}
    tracing.inject(trace_context)
    for name, value in trace_context.items():
        headers[name] = value
        headers["ce-" + name] = value
    return headers


def wakeup_span(deliberation_id: str) -> Span:
    return tracing.start_span(tracing.WAKEUP, kind=SpanKind.CLIENT, attributes={
        tracing.DELIBERATION_ID: deliberation_id, "http.request.method": "POST",
        "cloudevents.event_type": FINISHED_EVENT_TYPE, "cloudevents.event_id": f"{deliberation_id}.finished"})


def answered(span: Span, status: int) -> None:
    span.set_attribute(tracing.STATUS_CODE, status)
    if status >= 400:
        span.set_status(Status(StatusCode.ERROR, f"wake-up answered {status}"))


def failed(span: Span, err: Exception) -> None:
    span.set_attribute(tracing.ERROR_TYPE, type(err).__name__)
    span.set_status(Status(StatusCode.ERROR, f"wake-up failed ({type(err).__name__})"))


def wakeup_body(deliberation_id: str) -> bytes:
    return json.dumps({"deliberation_id": deliberation_id}).encode()


def send_wakeup(url: str, deliberation_id: str) -> None:
    """Best-effort binary-mode CloudEvent telling the status function to look now rather than on
    its next poll; it carries no authority, so losing it only delays the status. Blocking: the
    job's, sent once its result is out (also from its watchdog thread)."""
    if not url or not deliberation_id:
        return
    with tracing.use_span(wakeup_span(deliberation_id)) as span:
        request = urllib.request.Request(url, data=wakeup_body(deliberation_id),
                                         headers=wakeup_headers(deliberation_id), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=CALLBACK_TIMEOUT_S) as response:
                response.read()
                answered(span, response.status)
        except urllib.error.HTTPError as err:
            answered(span, err.code)
            log("warning", f"wake-up answered {err.code}", deliberation_id)
        except Exception as err:  # noqa: BLE001 - best effort: never changes the outcome
            failed(span, err)
            log("warning", f"wake-up failed ({type(err).__name__})", deliberation_id)


async def send_wakeup_async(session: aiohttp.ClientSession, url: str, deliberation_id: str) -> None:
    """The same wake-up on an event loop (the runner's): it never holds up the loop."""
    if not url or not deliberation_id:
        return
    with tracing.use_span(wakeup_span(deliberation_id)) as span:
        try:
            async with session.post(url, data=wakeup_body(deliberation_id),
                                    headers=wakeup_headers(deliberation_id),
                                    timeout=aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT_S),
                                    allow_redirects=False) as response:
                await response.read()
                answered(span, response.status)
                if response.status >= 400:
                    log("warning", f"wake-up answered {response.status}", deliberation_id)
        except Exception as err:  # noqa: BLE001 - best effort: never changes the outcome
            failed(span, err)
            log("warning", f"wake-up failed ({type(err).__name__})", deliberation_id)
