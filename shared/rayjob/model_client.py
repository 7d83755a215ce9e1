"""The model client: one OpenAI-compatible chat call, retried with backoff while the failure is
transient and time is left. It never follows a redirect (so the key never leaves the allowed
origin), reads a bounded part of an answer, and caps what it keeps at max_answer_bytes of UTF-8.

Calls are coroutines on one aiohttp session per ModelClient (one per process and event loop):
thousands wait on the model server at once at the cost of a socket each, not a thread each. A
ModelClient bounds the calls on the wire, in all and per model-server origin (call_limits.py).
Everything around the call (retries, backoff, bounds) takes the sleep, the randomness and the
cancel check as arguments.

Each attempt is a client span (`chat <model>`, the call's attempt number, the answer's status) whose
traceparent the model server receives, so vLLM's own spans join the trace; a ModelClient may be
given an observer of each attempt's origin, outcome and latency (the runner's metrics)."""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

import tracing
from call_limits import DEFAULT_MAX_CALLS, DEFAULT_MAX_CALLS_PER_ORIGIN, CallLimits, origin_of
from messages import one_line
from model_keys import Keys
from policy import DEFAULT_MAX_ANSWER_BYTES, canonical_origin

# A call (or a retry) starts only with at least this much time left.
MIN_CALL_S = 0.2

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0

# What the job keeps of an answer: proposal and reasoning each up to max_answer_bytes of UTF-8,
# and of the HTTP body at most twice that (JSON escapes, content plus reasoning) plus room for the
# JSON envelope. A body beyond the read bound is not read further: the call fails.
ANSWER_ENVELOPE_BYTES = 64 * 1024
READ_CHUNK_BYTES = 64 * 1024
ERROR_DETAIL_BYTES = 4096
ANSWER_TRUNCATION_MARKER = "\n[... truncated by the deliberation job: {cut} of {total} bytes omitted]"

# The error of a call the run's cancel kept from starting.
CANCELLED = "cancelled"


def never_cancelled() -> bool:
    return False


class AttemptError(Exception):
    """One call failed; transient failures are worth another attempt."""

    def __init__(self, problem: str, transient: bool, retry_after: float = 0.0, outcome: str = "error") -> None:
        super().__init__(problem)
        self.problem = problem
        self.transient = transient
        self.retry_after = retry_after
        self.outcome = outcome  # a short, bounded name: timeout, connection, http_503, ...


class CallError(Exception):
    """A call failed for good; the message is short, secret-free and says what happened."""


def read_limit(max_answer_bytes: int) -> int:
    return 2 * max_answer_bytes + ANSWER_ENVELOPE_BYTES


# Told of every attempt that went on the wire: its origin, its outcome (ok or AttemptError's) and
# how long it took in seconds.
CallObserver = Callable[[str, str, float], None]


class ModelClient:
    """One process's (one event loop's) calls to model servers: a shared session and the limits
    of calls on the wire, and the model servers' keys (model_keys.py): a call carries the key of
    the origin it goes to, and no other. Made and closed on the loop that uses it."""

    def __init__(self, max_calls: int = DEFAULT_MAX_CALLS,
                 max_calls_per_origin: int = DEFAULT_MAX_CALLS_PER_ORIGIN, keys: Keys | None = None,
                 observer: CallObserver | None = None) -> None:
        self.limits = CallLimits(max_calls, max_calls_per_origin)
        self.keys = keys or Keys()
        self.observer = observer
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # The semaphores bound the calls; the pool only has to hold that many connections.
            # No proxy from the environment: the model server is called where the policy says.
            connector = aiohttp.TCPConnector(limit=self.limits.max_calls, limit_per_host=0)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def post_json(self, url: str, body: dict[str, Any], until: float, api_key: str | None,
                        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES) -> dict[str, Any]:
        """One attempt, started once there is room on the wire for it (in all and at its origin),
        ending by until (unix seconds) whatever the server does. api_key None: the key of url's
        origin, if any (the job's and the runner's way); a string only in tests."""
        if api_key is None:
            api_key = self.keys.for_url(url)
        try:
            origin = await self.limits.acquire(url, until)
        except asyncio.TimeoutError:
            raise AttemptError("no room for the call before the deadline", True) from None
        started = time.monotonic()
        outcome = "cancelled"
        try:
            left = until - time.time()
            if left <= 0:
                raise AttemptError("model server timed out", True, outcome="timeout")
            answer = await self._attempt(url, body, api_key, max_answer_bytes, left)
            outcome = "ok"
            return answer
        except asyncio.TimeoutError:
            outcome = "timeout"
            raise AttemptError("model server timed out", True, outcome="timeout") from None
        except AttemptError as err:
            outcome = err.outcome
            raise
        finally:
            self.limits.release(origin)
            if self.observer is not None:
                self.observer(origin_of(url), outcome, time.monotonic() - started)

    async def _attempt(self, url: str, body: dict[str, Any], api_key: str,
                       max_answer_bytes: int, timeout: float) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        tracing.inject(headers)
        try:
            # allow_redirects=False: a 3xx is the answer, refused below, never followed (a
            # redirect would carry the Authorization header to wherever it points). The total
            # timeout covers connecting, sending and reading the body: a body still dripping in
            # at the deadline is a timeout.
            async with self.session().post(url, data=json.dumps(body).encode(), headers=headers,
                                           allow_redirects=False,
                                           timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                trace.get_current_span().set_attribute(tracing.STATUS_CODE, response.status)
                if response.status >= 300:
                    raise await http_error(response)
                payload = await read_bounded(response, read_limit(max_answer_bytes))
        except asyncio.TimeoutError:
            # First: aiohttp's timeouts are ClientErrors too, and TimeoutError is an OSError.
            raise AttemptError("model server timed out", True, outcome="timeout") from None
        except aiohttp.ClientConnectorError as err:
            raise AttemptError(f"cannot reach model server ({_reason(err.os_error)})", True,
                               outcome="connection") from None
        except (aiohttp.ClientError, OSError) as err:
            raise AttemptError(f"connection to model server failed ({_reason(err)})", True,
                               outcome="connection") from None
        try:
            # At most read_limit (about 2 x max_answer_bytes) of JSON: parsed on the loop, a
            # millisecond or so at the default cap, which a thread hop would cost as much as.
            answer = json.loads(payload)
        except ValueError:
            raise AttemptError("model server answered invalid JSON", False, outcome="invalid_answer") from None
        if not isinstance(answer, dict):
            raise AttemptError("model server answered invalid JSON", False, outcome="invalid_answer")
        return answer


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, up to limit bytes. A longer one is refused as soon as it shows (its announced
    length, or the first byte past the limit) and never read to its end: the connection is
    closed. The caller's timeout ends a body still dripping in."""
    if (response.content_length or -1) > limit:
        response.close()
        raise answer_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await response.content.read(min(READ_CHUNK_BYTES, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            response.close()
            raise answer_too_large(limit)


def answer_too_large(limit: int) -> AttemptError:
    # Final: the same prompt would most likely bring the same flood again.
    return AttemptError(f"model server answer larger than {limit} bytes", False, outcome="too_large")


async def http_error(response: aiohttp.ClientResponse) -> AttemptError:
    code = response.status
    if 300 <= code < 400:
        response.close()
        return AttemptError(redirect_problem(code, str(response.url), response.headers.get("Location")),
                            False, outcome=f"http_{code}")
    transient = code in (408, 429) or code >= 500
    problem = f"model server answered {code}"
    if not transient:
        # A 4xx is final, and its message (unknown model, context too long) is what a caller
        # needs to fix the request; it is cut short and kept on one line.
        detail = await _error_detail(response)
        if detail:
            problem = f"{problem}: {detail}"
    response.close()
    return AttemptError(problem, transient, _retry_after(response.headers.get("Retry-After")),
                        outcome=f"http_{code}")


async def _error_detail(response: aiohttp.ClientResponse) -> str:
    data = b""
    try:
        while len(data) < ERROR_DETAIL_BYTES:
            chunk = await response.content.read(ERROR_DETAIL_BYTES - len(data))
            if not chunk:
                break
            data += chunk
    except (aiohttp.ClientError, OSError):
        return ""
    raw = data.decode("utf-8", "replace")
    try:
        doc = json.loads(raw)
    except ValueError:
        return one_line(raw)
    if isinstance(doc, dict):
        error = doc.get("error", doc)
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str):
            return one_line(message)
    return one_line(raw)


def redirect_problem(code: int, url: str, location: str | None) -> str:
    """Names where the server wanted to send the call by origin only: the location's path and
    query may hold tokens, and the key is never part of it."""
    if not location:
        target = "without a location"
    else:
        try:
            target = "to " + canonical_origin(urllib.parse.urljoin(url, location))
        except ValueError:
            target = "to an unusable location"
    return one_line(f"model server redirected ({code}) {target}; redirects are not followed")


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return one_line(reason.strerror)
    return one_line(str(reason)) or type(reason).__name__


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value else 0.0
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def backoff_delay(attempt: int, retry_after: float, rng: Callable[[], float]) -> float:
    """Exponential backoff with jitter (half fixed, half random), raised to the server's
    Retry-After when it asks for longer, never beyond the cap."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** (attempt - 1))
    delay = ceiling / 2 + rng() * ceiling / 2
    return min(BACKOFF_CAP_S, max(delay, retry_after))


def attempts_phrase(attempts: int) -> str:
    return f"after {attempts} attempt" + ("" if attempts == 1 else "s")


def deadline_message(attempts: int, last: AttemptError | None) -> str:
    if attempts == 0 or last is None:
        return "deadline reached"
    return f"deadline reached {attempts_phrase(attempts)} (last: {last.problem})"


async def call_with_retries(client: ModelClient, url: str, body: dict[str, Any], until: float,
                            max_retries: int, api_key: str | None,
                            on_retry: Callable[[str, float], None] = lambda p, d: None,
                            sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                            rng: Callable[[], float] = random.random,
                            max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
                            cancelled: Callable[[], bool] = never_cancelled) -> dict[str, Any]:
    """Posts body until it succeeds, a failure is not transient, 1 + max_retries attempts were
    made, until (unix seconds) comes, or the run is cancelled: each attempt's timeout is the time
    left, and no attempt starts once cancelled() is true."""
    attempts = 0
    last: AttemptError | None = None
    while True:
        if cancelled():
            raise CallError(CANCELLED)
        if until - time.time() < MIN_CALL_S:
            raise CallError(deadline_message(attempts, last))
        attempts += 1
        try:
            return await traced_attempt(client, url, body, until, api_key, max_answer_bytes, attempts)
        except AttemptError as err:
            last = err
        if not last.transient:
            raise CallError(last.problem if attempts == 1
                            else f"{last.problem} {attempts_phrase(attempts)}")
        if attempts > max_retries:
            raise CallError(f"{last.problem} {attempts_phrase(attempts)}")
        delay = backoff_delay(attempts, last.retry_after, rng)
        if time.time() + delay + MIN_CALL_S > until:
            raise CallError(deadline_message(attempts, last))
        on_retry(last.problem, delay)
        await sleep(delay)


async def traced_attempt(client: ModelClient, url: str, body: dict[str, Any], until: float, api_key: str | None,
                         max_answer_bytes: int, attempt: int) -> dict[str, Any]:
    """One attempt as a client span, the current one while the request is sent (its traceparent
    goes with it)."""
    model = str(body.get("model", ""))
    parsed = urllib.parse.urlsplit(url)
    attributes: dict[str, str | int] = {tracing.MODEL: model, tracing.CALL_ATTEMPT: attempt,
                                        "gen_ai.operation.name": "chat", "http.request.method": "POST",
                                        "server.address": parsed.hostname or ""}
    if parsed.port:
        attributes["server.port"] = parsed.port
    with tracing.TRACER.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes,
                                              record_exception=False) as span:
        try:
            return await client.post_json(url, body, until, api_key, max_answer_bytes)
        except AttemptError as err:
            span.set_attribute(tracing.ERROR_TYPE, err.outcome)
            span.set_status(Status(StatusCode.ERROR, err.problem))
            raise


def first_message(answer: dict[str, Any]) -> dict[str, Any]:
    choices = answer.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            return message
    raise CallError("model server answered without a message")


def cap_answer(text: str, limit: int) -> tuple[str, bool]:
    """text cut to at most limit bytes of UTF-8, marker included (only a cap smaller than the
    marker itself leaves the marker alone), on a character boundary; and whether it was cut."""
    # surrogatepass: JSON may carry a lone surrogate, which plain UTF-8 cannot encode.
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, False
    widest = ANSWER_TRUNCATION_MARKER.format(cut=len(data), total=len(data))
    keep = max(0, limit - len(widest))
    while keep > 0 and data[keep] & 0xC0 == 0x80:  # a continuation byte: back to the char's start
        keep -= 1
    marker = ANSWER_TRUNCATION_MARKER.format(cut=len(data) - keep, total=len(data))
    return data[:keep].decode("utf-8", "surrogatepass") + marker, True

