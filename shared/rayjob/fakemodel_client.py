"""The Python tests' handle on the fake model server: the Go fake of internal/fakes/modelserver,
built once per session (cmd/fakemodel) and run as a process per FakeModelServer, driven through
its control surface under /_fake/. One fake serves both test suites, so what the Python tests
rely on (answers, failures, stalls, redirects, streamed answers, recordings) is the behaviour the
Go tests check, and the load benchmark's many calls in flight go to a server built for them.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CHAT_PATH = "/v1/chat/completions"
CONTROL = "/_fake/"
REPO = Path(__file__).resolve().parents[2]
PACKAGE = "./internal/fakes/modelserver/cmd/fakemodel"
START_TIMEOUT_S = 10.0
# Control calls never go through a proxy of the environment: the fake listens on 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class FakeUnavailableError(Exception):
    """The fake cannot be built here: no Go toolchain on PATH."""


@dataclass(frozen=True)
class Behaviour:
    """How the fake answers one model; the Go fake's Behavior, field for field. fail_times None
    means every request fails; answer None or "" means the default answer."""

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

    def to_control(self, model: str) -> dict[str, Any]:
        fields = asdict(self)
        fail_times = fields.pop("fail_times")
        if fail_times is not None and fail_times <= 0:
            fields["fail_status"] = 0  # fails none of the requests
        fields["fail_first"] = fail_times or 0
        fields["delay_seconds"] = fields.pop("delay")
        fields["answer"] = fields["answer"] or ""
        body = fields["error_body"]
        fields["error_body"] = body.decode() if body is not None else ""
        return {"model": model, **fields}


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    started: float
    method: str = "POST"

    @property
    def model(self) -> str:
        return self.body.get("model", "") if isinstance(self.body, dict) else ""

    @property
    def is_judge(self) -> bool:
        return isinstance(self.body, dict) and "response_format" in self.body

    def message(self, role: str) -> str:
        for message in self.body.get("messages", []):
            if message.get("role") == role:
                return str(message.get("content", ""))
        return ""


@dataclass(frozen=True)
class Streamed:
    """One streamed answer: how much of it the fake could write before the client went away."""
    total: int
    sent: int
    completed: bool


_binary: Path | None = None


def build() -> Path:
    """Builds cmd/fakemodel once per process into a temporary directory; FakeUnavailableError without
    a Go toolchain, RuntimeError (with the compiler's output) when the build fails."""
    global _binary
    if _binary is not None:
        return _binary
    go = shutil.which("go")
    if go is None:
        raise FakeUnavailableError("go is not on PATH: the fake model server is built from "
                              f"{PACKAGE}")
    out = Path(tempfile.mkdtemp(prefix="fakemodel-"))
    atexit.register(shutil.rmtree, out, True)
    proc = subprocess.run([go, "build", "-o", str(out / "fakemodel"), PACKAGE], cwd=REPO,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"go build {PACKAGE} failed:\n{proc.stdout}{proc.stderr}")
    _binary = out / "fakemodel"
    return _binary


class FakeModelServer:
    """Starts a fake on construction; close() stops it, which drops the stalled requests."""

    def __init__(self) -> None:
        # stdin stays open while this object lives: the fake exits when it closes, so a test run
        # that dies does not leave it behind.
        self._proc = subprocess.Popen([str(build())], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            self._proc.kill()
            raise RuntimeError(f"the fake model server printed {line!r}, not its URL")
        self.url = line

    def set_model(self, model: str, behaviour: Behaviour) -> None:
        self._post("behavior", behaviour.to_control(model))

    def set_judge_scores(self, scores: dict[str, float]) -> None:
        self._post("judge/scores", scores)

    def set_judge_content(self, content: str) -> None:
        """The judge answers this raw content (garbage, out-of-range scores...)."""
        self._post("judge/content", {"content": content})

    def reset(self) -> None:
        """Forgets behaviours, judge settings and recordings; drops the stalled requests."""
        self._post("reset", {})

    def requests(self) -> list[Recorded]:
        return [_recorded(r) for r in self._get("requests")["requests"]]

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
        while True:
            streams = [Streamed(**s) for s in self._get("streams")["streams"]]
            if len(streams) >= count or time.time() >= until:
                return streams
            time.sleep(0.01)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                pipe.close()

    def _post(self, path: str, doc: Any) -> None:
        request = urllib.request.Request(self.url + CONTROL + path, json.dumps(doc).encode(),
                                         {"Content-Type": "application/json"}, method="POST")
        with _opener.open(request, timeout=10) as response:
            response.read()

    def _get(self, path: str) -> dict[str, Any]:
        with _opener.open(self.url + CONTROL + path, timeout=10) as response:
            doc: dict[str, Any] = json.load(response)
            return doc


def _recorded(doc: dict[str, Any]) -> Recorded:
    raw: str = doc["body"]
    body: Any
    if doc["method"] == "GET" and not raw:
        body = None
    else:
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
    return Recorded(doc["path"], doc["headers"], body, doc["at"], doc["method"])


def streamed_completion(total: int) -> tuple[bytes, int, bytes]:
    """Prefix, filler length and suffix of the fake's streamed answer of total bytes, read from a
    fake: the frame around content that is all "x"."""
    fake = FakeModelServer()
    try:
        fake.set_model("m", Behaviour(stream_bytes=total))
        request = urllib.request.Request(fake.url + CHAT_PATH, b'{"model":"m"}',
                                         {"Content-Type": "application/json"}, method="POST")
        with _opener.open(request, timeout=10) as response:
            body: bytes = response.read()
    finally:
        fake.close()
    start = body.index(b'"content":"') + len(b'"content":"')
    end = body.rindex(b'"},"finish_reason"')
    if body[start:end].strip(b"x"):
        raise ValueError("the streamed content is not all x")
    return body[:start], end - start, body[end:]
