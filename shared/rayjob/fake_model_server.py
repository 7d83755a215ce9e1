"""A fake OpenAI-compatible model server for the deliberation job's tests.

It answers POST /v1/chat/completions on 127.0.0.1 with behaviours set per model (answer, fail with
a status always or the first K times and a JSON or raw error body, stall, answer slowly, redirect,
stream a huge answer), answers judge calls (those with a response_format) with scores, records every
request on arrival, and accepts any other POST (the job's wake-up CloudEvent) as a recorded event.
A GET (what urllib makes of a followed 301, 302 or 303) is recorded and answered with a completion,
so a test sees whether a redirect was followed and with which headers. Standard library only.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"
STALL_LIMIT_S = 120.0


@dataclass(frozen=True)
class Behaviour:
    """How the fake answers one model. fail_times None means every request fails."""

    answer: str | None = None
    reasoning: str = ""
    fail_status: int = 0
    fail_times: int | None = None
    stall: bool = False
    delay: float = 0.0
    total_tokens: int = 42
    error_body: bytes | None = None  # sent raw (text/plain) instead of the JSON error
    redirect_status: int = 0
    redirect_to: str = ""  # the Location of a redirect (redirect_status set)
    stream_bytes: int = 0  # answer a completion body of this many bytes, written in chunks
    announce_length: bool = False  # with a Content-Length (else the body ends when closed)


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    started: float

    @property
    def model(self) -> str:
        return self.body.get("model", "") if isinstance(self.body, dict) else ""

    @property
    def is_judge(self) -> bool:
        return isinstance(self.body, dict) and "response_format" in self.body

    def message(self, role: str) -> str:
        for message in self.body.get("messages", []):
            if message.get("role") == role:
                return message.get("content", "")
        return ""


@dataclass(frozen=True)
class Streamed:
    """One streamed answer: how much of it the fake could write before the client went away."""
    total: int
    sent: int
    completed: bool


@dataclass
class _State:
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    judge_scores: dict[str, float] | None = None
    judge_content: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    streams: list[Streamed] = field(default_factory=list)


class FakeModelServer:
    """Starts listening on construction; close() stops it and releases stalled requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()
        self._closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def set_model(self, model: str, behaviour: Behaviour) -> None:
        with self._lock:
            self._state.behaviours[model] = behaviour

    def set_judge_scores(self, scores: dict[str, float]) -> None:
        with self._lock:
            self._state.judge_scores = dict(scores)

    def set_judge_content(self, content: str) -> None:
        """The judge answers this raw content (garbage, out-of-range scores...)."""
        with self._lock:
            self._state.judge_content = content

    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._state.requests)

    def chat_requests(self, model: str | None = None) -> list[Recorded]:
        return [r for r in self.requests()
                if r.path == CHAT_PATH and (model is None or r.model == model)]

    def agent_requests(self) -> list[Recorded]:
        return [r for r in self.chat_requests() if not r.is_judge]

    def judge_requests(self) -> list[Recorded]:
        return [r for r in self.chat_requests() if r.is_judge]

    def events(self) -> list[Recorded]:
        return [r for r in self.requests() if r.path != CHAT_PATH]

    def streams(self, count: int = 1, within: float = 10.0) -> list[Streamed]:
        """The streamed answers, once count of them have ended (or within has passed)."""
        until = time.time() + within
        while time.time() < until:
            with self._lock:
                if len(self._state.streams) >= count:
                    break
            time.sleep(0.01)
        with self._lock:
            return list(self._state.streams)

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    # Called by the handler threads.

    def _next(self, model: str) -> tuple[Behaviour, int, dict[str, float] | None, str | None]:
        with self._lock:
            count = self._state.counts.get(model, 0) + 1
            self._state.counts[model] = count
            return (self._state.behaviours.get(model, Behaviour()), count,
                    self._state.judge_scores, self._state.judge_content)

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self._state.requests.append(recorded)

    def _record_stream(self, streamed: Streamed) -> None:
        with self._lock:
            self._state.streams.append(streamed)

    def _stall(self) -> None:
        self._closing.wait(STALL_LIMIT_S)

    def _sleep(self, seconds: float) -> None:
        self._closing.wait(seconds)


def judge_agent_ids(body: dict[str, Any]) -> list[str]:
    """The agent ids a judge call asks about, from its JSON schema's enum."""
    schema = body["response_format"]["json_schema"]["schema"]
    return list(schema["properties"]["scores"]["items"]["properties"]["agent_id"]["enum"])


def default_scores(agent_ids: list[str]) -> dict[str, float]:
    """0.9, 0.8, ... in the judge's order, then 0.0 for the rest."""
    return {agent_id: max(0.0, round(0.9 - 0.1 * index, 2))
            for index, agent_id in enumerate(agent_ids)}


def judge_content(body: dict[str, Any], scores: dict[str, float] | None) -> str:
    ids = judge_agent_ids(body)
    chosen = scores if scores is not None else default_scores(ids)
    return json.dumps({"scores": [
        {"agent_id": agent_id, "score": chosen[agent_id], "rationale": f"fake rationale {agent_id}"}
        for agent_id in ids if agent_id in chosen]})


def completion(model: str, content: str, behaviour: Behaviour) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if behaviour.reasoning:
        message["reasoning_content"] = behaviour.reasoning
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": behaviour.total_tokens - 10,
                  "total_tokens": behaviour.total_tokens},
    }


STREAM_CHUNK = b"x" * (1 << 20)


def streamed_completion(total: int) -> tuple[bytes, int, bytes]:
    """Prefix, filler length and suffix of a valid completion body of total bytes whose content
    is all "x" (so a client that reads it all gets a usable, huge answer)."""
    prefix = (b'{"id":"chatcmpl-fake","object":"chat.completion","model":"m","choices":'
              b'[{"index":0,"message":{"role":"assistant","content":"')
    suffix = b'"},"finish_reason":"stop"}]}'
    return prefix, max(0, total - len(prefix) - len(suffix)), suffix


def _handler_for(fake: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            started = time.time()
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            headers = {key.lower(): value for key, value in self.headers.items()}
            # Recorded on arrival, so a stalled request is visible while it stalls.
            fake._record(Recorded(self.path, headers, body, started))
            if self.path == CHAT_PATH:
                self._chat(body)
            else:
                self._send(200, {})

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            headers = {key.lower(): value for key, value in self.headers.items()}
            fake._record(Recorded(self.path, headers, None, time.time()))
            self._send(200, completion("", "proposal fetched by GET", Behaviour()))

        def _chat(self, body: Any) -> None:
            if not isinstance(body, dict):
                self._send(400, {"error": {"message": "body is not JSON"}})
                return
            model = str(body.get("model", ""))
            behaviour, count, scores, raw_judge = fake._next(model)
            if behaviour.stall:
                fake._stall()
                return
            if behaviour.delay:
                fake._sleep(behaviour.delay)
            failing = behaviour.fail_times is None or count <= behaviour.fail_times
            if behaviour.fail_status and failing:
                if behaviour.error_body is not None:
                    self._send_raw(behaviour.fail_status, behaviour.error_body)
                    return
                self._send(behaviour.fail_status,
                           {"error": {"message": f"fake failure of {model}",
                                      "code": behaviour.fail_status}})
                return
            if behaviour.redirect_status:
                self._redirect(behaviour.redirect_status, behaviour.redirect_to)
                return
            if behaviour.stream_bytes:
                self._stream(behaviour.stream_bytes, behaviour.announce_length)
                return
            if behaviour.answer is not None:
                content = behaviour.answer
            elif "response_format" in body:
                content = raw_judge if raw_judge is not None else judge_content(body, scores)
            else:
                content = f"proposal from {model}"
            self._send(200, completion(model, content, behaviour))

        def _redirect(self, status: int, location: str) -> None:
            payload = b"moved"
            try:
                self.send_response(status)
                self.send_header("Location", location)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass

        def _send_raw(self, status: int, payload: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass

        def _stream(self, total: int, announce_length: bool) -> None:
            prefix, filler, suffix = streamed_completion(total)
            sent = 0
            completed = False
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if announce_length:
                    self.send_header("Content-Length", str(len(prefix) + filler + len(suffix)))
                self.end_headers()
                self.wfile.write(prefix)
                sent += len(prefix)
                while sent - len(prefix) < filler:
                    chunk = STREAM_CHUNK[: filler - (sent - len(prefix))]
                    self.wfile.write(chunk)
                    sent += len(chunk)
                self.wfile.write(suffix)
                sent += len(suffix)
                self.wfile.flush()
                completed = True
            except OSError:
                pass  # the client closed the connection: what it did not read was never sent
            finally:
                self.close_connection = True
                fake._record_stream(Streamed(len(prefix) + filler + len(suffix), sent, completed))

        def _send(self, status: int, doc: dict[str, Any]) -> None:
            payload = json.dumps(doc).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (a timeout under test); nothing to tell it

    return Handler
