"""The model client: one OpenAI-compatible chat call, retried with backoff while the failure is
transient and time is left. It never follows a redirect (so the key never leaves the allowed
origin), reads a bounded part of an answer, and caps what it keeps at max_answer_bytes of UTF-8.

post_json is the one blocking call; everything around it (retries, backoff, bounds) takes the
sleep, the randomness and the cancel check as arguments."""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from messages import one_line
from policy import DEFAULT_MAX_ANSWER_BYTES, canonical_origin

ENV_API_KEY = "VLLM_API_KEY"

# A call (or a retry) starts only with at least this much time left.
MIN_CALL_S = 0.2

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0

# What the job keeps of an answer: proposal and reasoning each up to max_answer_bytes of UTF-8,
# and of the HTTP body at most twice that (JSON escapes, content plus reasoning) plus room for the
# JSON envelope. A body beyond the read bound is not read further: the call fails.
ANSWER_ENVELOPE_BYTES = 64 * 1024
READ_CHUNK_BYTES = 64 * 1024
ANSWER_TRUNCATION_MARKER = "\n[... truncated by the deliberation job: {cut} of {total} bytes omitted]"

# The error of a call the run's cancel kept from starting.
CANCELLED = "cancelled"


def never_cancelled() -> bool:
    return False


class AttemptError(Exception):
    """One call failed; transient failures are worth another attempt."""

    def __init__(self, problem: str, transient: bool, retry_after: float = 0.0) -> None:
        super().__init__(problem)
        self.problem = problem
        self.transient = transient
        self.retry_after = retry_after


class CallError(Exception):
    """A call failed for good; the message is short, secret-free and says what happened."""


class RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follows a redirect. urllib would follow a 301, 302 or 303 to any host, as a GET that
    keeps the Authorization header, and use that host's answer; declining hands the 3xx on to the
    default handler, which raises it as an HTTPError that http_error reports."""

    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                       headers: Any) -> None:
        return None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


# The opener of every model server call (the wake-up is no model server call and carries no key).
MODEL_OPENER = urllib.request.build_opener(RefuseRedirects)


def read_limit(max_answer_bytes: int) -> int:
    return 2 * max_answer_bytes + ANSWER_ENVELOPE_BYTES


def post_json(url: str, body: dict[str, Any], timeout: float, api_key: str,
              max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
    try:
        with MODEL_OPENER.open(request, timeout=timeout) as response:
            payload = read_bounded(response, read_limit(max_answer_bytes),
                                   time.monotonic() + timeout)
    except urllib.error.HTTPError as err:
        raise http_error(err) from None
    except TimeoutError:
        raise AttemptError("model server timed out", True) from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise AttemptError("model server timed out", True) from None
        raise AttemptError(f"cannot reach model server ({_reason(err.reason)})", True) from None
    except (OSError, http.client.HTTPException) as err:
        raise AttemptError(f"connection to model server failed ({_reason(err)})", True) from None
    try:
        answer = json.loads(payload)
    except ValueError:
        raise AttemptError("model server answered invalid JSON", False) from None
    if not isinstance(answer, dict):
        raise AttemptError("model server answered invalid JSON", False)
    return answer


def read_bounded(response: http.client.HTTPResponse, limit: int, until: float) -> bytes:
    """The body, up to limit bytes. A longer one is refused as soon as it shows (its announced
    length, or the first byte past the limit) and never read to its end; a body still dripping
    in at until (monotonic seconds) is a timeout, so a call never outlives its budget."""
    if _content_length(response.headers.get("Content-Length")) > limit:
        raise answer_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > until:
            raise AttemptError("model server timed out", True)
        chunk = response.read(min(READ_CHUNK_BYTES, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise answer_too_large(limit)


def _content_length(value: str | None) -> int:
    try:
        return int(value) if value else -1
    except ValueError:
        return -1


def answer_too_large(limit: int) -> AttemptError:
    # Final: the same prompt would most likely bring the same flood again.
    return AttemptError(f"model server answer larger than {limit} bytes", False)


def http_error(err: urllib.error.HTTPError) -> AttemptError:
    code = err.code
    if 300 <= code < 400:
        return AttemptError(redirect_problem(err), False)
    transient = code in (408, 429) or code >= 500
    problem = f"model server answered {code}"
    if not transient:
        # A 4xx is final, and its message (unknown model, context too long) is what a caller
        # needs to fix the request; it is cut short and kept on one line.
        detail = _error_detail(err)
        if detail:
            problem = f"{problem}: {detail}"
    return AttemptError(problem, transient, _retry_after(err.headers.get("Retry-After")))


def _error_detail(err: urllib.error.HTTPError) -> str:
    try:
        raw = err.read(4096).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
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


def redirect_problem(err: urllib.error.HTTPError) -> str:
    """Names where the server wanted to send the call by origin only: the location's path and
    query may hold tokens, and the key is never part of it."""
    location = err.headers.get("Location") if err.headers is not None else None
    if not location:
        target = "without a location"
    else:
        try:
            target = "to " + canonical_origin(urllib.parse.urljoin(err.url or "", location))
        except ValueError:
            target = "to an unusable location"
    return one_line(f"model server redirected ({err.code}) {target}; redirects are not followed")


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


def call_with_retries(url: str, body: dict[str, Any], until: float, max_retries: int,
                      api_key: str, on_retry: Callable[[str, float], None] = lambda p, d: None,
                      sleep: Callable[[float], None] = time.sleep,
                      rng: Callable[[], float] = random.random,
                      max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
                      cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Posts body until it succeeds, a failure is not transient, 1 + max_retries attempts were
    made, until (unix seconds) comes, or the run is cancelled: each attempt's timeout is the time
    left, and no attempt starts once cancelled() is true."""
    attempts = 0
    last: AttemptError | None = None
    while True:
        if cancelled():
            raise CallError(CANCELLED)
        left = until - time.time()
        if left < MIN_CALL_S:
            raise CallError(deadline_message(attempts, last))
        attempts += 1
        try:
            return post_json(url, body, left, api_key, max_answer_bytes)
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
        sleep(delay)


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


def api_key() -> str:
    """The model server's key, from the Ray cluster's own environment; never printed."""
    return os.environ.get(ENV_API_KEY, "")
