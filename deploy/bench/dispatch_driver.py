"""Two ways of running a deliberation from a long-lived Ray driver, for the dispatch scenario of
`make bench` (docs/performance.md), beside the functions' serve and jobs dispatch.

    python dispatch_driver.py actors|tasks GCS_ADDRESS MODEL_URL

actors: the way the service this project replaces ran them: one Ray actor per agent for each
        deliberation (the actor makes the model call), killed once the agents have answered.
tasks:  the floor of Ray itself: one num_cpus=0 Ray task per agent; Ray reuses the warm workers.

Either way three agents call MODEL_URL, then the driver makes the judge call. Each line on stdin,
{"n": N}, runs N deliberations at once and answers one line on stdout: {"ms": [request to
result of each], "wall_ms": all of them}, or {"error": ...}. A first line {"ready": true} says
the driver has joined the cluster. Standard library and ray only, like the deliberation job.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import ray

# The deliberation of the functions' bench request: agent id, role, model; then the judge.
AGENTS = (("a1", "DEV", "m1"), ("a2", "QA", "m2"), ("a3", "ARCHITECT", "m3"))
JUDGE_MODEL = "judge"
TASK = "Add a read-through cache in front of the user service; keep it consistent on writes."


def chat(url: str, body: dict[str, Any]) -> str:
    request = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)["choices"][0]["message"]["content"]


def propose(url: str, role: str, model: str) -> str:
    return chat(url, {"model": model, "temperature": 0.7, "max_tokens": 1024, "messages": [
        {"role": "system", "content": f"You are the {role} agent of a software team."},
        {"role": "user", "content": TASK}]})


def judge(url: str, proposals: dict[str, str]) -> str:
    """The judge call, with the scores' JSON schema as the job sends it; returns the best agent."""
    item = {"type": "object", "required": ["agent_id", "score"], "properties": {
        "agent_id": {"type": "string", "enum": list(proposals)}, "score": {"type": "number"}}}
    schema = {"type": "object", "required": ["scores"],
              "properties": {"scores": {"type": "array", "items": item}}}
    prompt = "\n".join(f'<proposal agent_id="{agent}">{text}</proposal>' for agent, text in proposals.items())
    content = chat(url, {"model": JUDGE_MODEL, "temperature": 0, "messages": [
        {"role": "system", "content": "Score each proposal from 0 to 1."}, {"role": "user", "content": prompt}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "scores", "schema": schema}}})
    return max(json.loads(content)["scores"], key=lambda s: s["score"])["agent_id"]


@ray.remote(num_cpus=0)
class Agent:
    def propose(self, url: str, role: str, model: str) -> str:
        return propose(url, role, model)


remote_propose = ray.remote(num_cpus=0)(propose)


def with_actors(url: str) -> str:
    actors = [Agent.remote() for _ in AGENTS]
    try:
        texts = ray.get([actor.propose.remote(url, role, model) for actor, (_, role, model) in zip(actors, AGENTS)])
    finally:
        for actor in actors:
            ray.kill(actor)
    return judge(url, {agent: text for (agent, _, _), text in zip(AGENTS, texts)})


def with_tasks(url: str) -> str:
    texts = ray.get([remote_propose.remote(url, role, model) for _, role, model in AGENTS])
    return judge(url, {agent: text for (agent, _, _), text in zip(AGENTS, texts)})


def at_once(deliberate: Callable[[str], str], url: str, n: int) -> dict[str, Any]:
    def timed(_: int) -> float:
        start = time.perf_counter()
        deliberate(url)
        return (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        each = list(pool.map(timed, range(n)))
    return {"ms": each, "wall_ms": (time.perf_counter() - start) * 1000}


def main() -> int:
    mode, address, url = sys.argv[1:4]
    deliberate = {"actors": with_actors, "tasks": with_tasks}[mode]
    # stdout carries the answers only: whatever Ray or a library prints goes to stderr.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    ray.init(address=address, log_to_driver=False, logging_level="WARNING")
    print(json.dumps({"ready": True}), file=answers)
    for line in sys.stdin:
        try:
            answer = at_once(deliberate, url, int(json.loads(line)["n"]))
        except Exception as err:  # noqa: BLE001 - reported to the bench, which fails the run
            answer = {"error": repr(err)}
        print(json.dumps(answer), file=answers)
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
