"""The capacity scenario's floor: one asyncio process making a burst's model calls, nothing else.

Each of N deliberations calls its agents at once, then the judge, as the runner does; all N start
together, with no Redis, no Ray, no queue and no limit but the connection pool's. What is left is
the model server's latency and one process's HTTP cost: the least a burst can take on this machine.

Usage: capacity_floor.py MODEL_URL N AGENT_MODEL... --judge JUDGE_MODEL
Prints one JSON line: {"wall_s": ..., "completed": ..., "failed": ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp

CHAT_PATH = "/v1/chat/completions"


def agent_body(model: str, agent_id: str) -> dict[str, Any]:
    return {"model": model, "temperature": 0.7, "max_tokens": 2048,
            "messages": [{"role": "system", "content": "You are a careful engineer."},
                         {"role": "user", "content": f"Task for {agent_id}: add a read-through cache."}]}


def judge_body(model: str, proposals: dict[str, str]) -> dict[str, Any]:
    prompt = "\n".join(f'<proposal agent_id="{aid}">{text}</proposal>' for aid, text in proposals.items())
    schema = {"type": "object", "properties": {"scores": {"type": "array", "items": {
        "type": "object", "properties": {"agent_id": {"enum": list(proposals)}, "score": {"type": "number"}}}}}}
    return {"model": model, "temperature": 0.0, "max_tokens": 1024,
            "response_format": {"type": "json_schema", "json_schema": {"name": "scores", "schema": schema}},
            "messages": [{"role": "system", "content": "Score each proposal."}, {"role": "user", "content": prompt}]}


async def call(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> str:
    async with session.post(url, json=body) as response:
        response.raise_for_status()
        answer = await response.json()
        return str(answer["choices"][0]["message"]["content"])


async def deliberate(session: aiohttp.ClientSession, url: str, models: list[str], judge: str) -> bool:
    ids = [f"a{i + 1}" for i in range(len(models))]
    try:
        answers = await asyncio.gather(*(call(session, url, agent_body(m, aid)) for m, aid in zip(models, ids)))
        await call(session, url, judge_body(judge, dict(zip(ids, answers))))
        return True
    except (aiohttp.ClientError, asyncio.TimeoutError, KeyError):
        return False


async def burst(url: str, n: int, models: list[str], judge: str) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.monotonic()
        done = await asyncio.gather(*(deliberate(session, url, models, judge) for _ in range(n)))
        wall = time.monotonic() - start
    completed = sum(done)
    return {"wall_s": wall, "completed": completed, "failed": n - completed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_url")
    parser.add_argument("n", type=int)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--judge", required=True)
    args = parser.parse_args()
    result = asyncio.run(burst(args.model_url.rstrip("/") + CHAT_PATH, args.n, args.models, args.judge))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
