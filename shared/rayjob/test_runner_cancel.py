"""A running attempt the functions stop (marker STOPPED) or stop and delete: its run is cancelled,
no model call follows, the judge is never asked, and no result is stored."""

from __future__ import annotations

import time

import redis

from conftest import contract_key, enqueue, make_request, queue_is_empty, start_runner
from fakemodel_client import Behaviour, FakeModelServer
from runner_consumer import Runner


def test_a_stopped_attempt_is_cancelled_while_running(client: redis.Redis, runners: list[Runner],
                                                      redis_url: str, server: FakeModelServer) -> None:
    # One agent keeps failing transiently (so it keeps retrying), one is slow, one answers: without
    # the cancel the run would go on retrying and then call the judge.
    server.set_model("flaky", Behaviour(fail_status=503))
    server.set_model("slow", Behaviour(answer="p", delay=1.0))
    server.set_model("m1", Behaviour(answer="p"))
    enqueue(client, "delib-c", make_request(server.url, [
        {"agent_id": "a1", "role": "DEV", "model": "flaky"}, {"agent_id": "a2", "role": "QA", "model": "slow"},
        {"agent_id": "a3", "role": "ARCHITECT", "model": "m1"}], constraints={"max_retries": 10}))
    start_runner(redis_url, runners)
    until = time.time() + 10
    while len(server.agent_requests()) < 3 and time.time() < until:
        time.sleep(0.02)
    assert len(server.agent_requests()) >= 3, "the attempt runs"
    # What the functions' Stop does (runner_stop.lua): the marker becomes STOPPED.
    client.hset(contract_key("attempt", "delib-c"), "state", "STOPPED")
    assert queue_is_empty(client, within=3.0), "the cancelled run ends and its entry is acked"
    time.sleep(1.2)  # a call in flight when the cancel was seen may still end: let it settle
    settled = len(server.requests())
    time.sleep(3.0)  # longer than the retries' backoff: a retry would show here
    assert len(server.requests()) == settled, "no model call after the cancel settled"
    assert server.judge_requests() == [], "the judge is never asked"
    assert client.get(contract_key("result", "delib-c")) is None, "a cancelled attempt stores no result"
    assert client.hget(contract_key("attempt", "delib-c"), "state") == b"STOPPED"


def test_an_attempt_whose_marker_is_deleted_is_cancelled(client: redis.Redis, runners: list[Runner],
                                                         redis_url: str, server: FakeModelServer) -> None:
    # The functions stop, then delete the stopped attempt's keys: the run ends as for STOPPED.
    server.set_model("flaky", Behaviour(fail_status=503))
    enqueue(client, "delib-d", make_request(server.url, [{"agent_id": "a1", "role": "DEV", "model": "flaky"}],
                                            constraints={"max_retries": 10}))
    start_runner(redis_url, runners)
    until = time.time() + 10
    while not server.agent_requests() and time.time() < until:
        time.sleep(0.02)
    client.delete(contract_key("attempt", "delib-d"))
    assert queue_is_empty(client, within=3.0)
    time.sleep(0.5)
    settled = len(server.requests())
    time.sleep(3.0)
    assert len(server.requests()) == settled, "no model call after the cancel settled"
    assert client.get(contract_key("result", "delib-d")) is None
