"""The runner's side of the queue: the contract's names as the runner uses them (group, attempt
and result states, marker fields), the two scripts it runs on attempt markers, and the reading of
what the queue answers: a stream entry as a Message, a stream reply as its entries. The names come
from contract/runner_queue.json (queue_contract.py), which the Go side reads too."""

from __future__ import annotations

from dataclasses import dataclass

import queue_contract

CONTRACT = queue_contract.load()
GROUP = CONTRACT.group
STATE_PENDING, STATE_RUNNING, STATE_STOPPED = queue_contract.ATTEMPT_STATES
STATE_SUCCEEDED, STATE_FAILED = queue_contract.RESULT_STATES
STATE_FIELD, STARTED_AT_FIELD, CLUSTER_FIELD = queue_contract.ATTEMPT_FIELDS

# Moves an attempt from PENDING (or RUNNING, for a redelivery) to RUNNING, on the runner's
# cluster (a redelivery on another cluster names the new one). Anything else (no marker: deleted
# or expired; STOPPED: cancelled) means the attempt must not run. The names come as arguments,
# from the contract: ARGV = started_at, state field, started_at field, PENDING, RUNNING, cluster
# field, the cluster's name.
START_SCRIPT = """
local state = redis.call('HGET', KEYS[1], ARGV[2])
if state ~= ARGV[4] and state ~= ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[5], ARGV[6], ARGV[7])
redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[1])
return 1
"""

# Which of the attempts a replica runs are stopped (marker STOPPED) or gone (deleted): the indices
# (from 1) of KEYS. One call for all of them, answering only the few that stopped, instead of a
# reply per attempt to parse every CANCEL_POLL_S. ARGV = state field, STOPPED.
STOPPED_SCRIPT = """
local stopped = {}
for i, key in ipairs(KEYS) do
  local state = redis.call('HGET', key, ARGV[1])
  if not state or state == ARGV[2] then stopped[#stopped + 1] = i end
end
return stopped
"""


@dataclass(frozen=True)
class Message:
    """One queued attempt, as the functions enqueue it."""
    entry_id: str
    attempt: str
    request: str  # the job's RAY_EXECUTOR_REQUEST
    deadline: float  # unix seconds
    callback: str
    shard: int = 0  # of the stream it came from: its attempt's keys are in the same shard
    pool: str = CONTRACT.default_pool  # of the stream it came from
    traceparent: str = ""  # of the enqueue span: the runner's spans continue its trace
    tracestate: str = ""

    @staticmethod
    def parse(entry_id: str, fields: dict[bytes, bytes], shard: int = 0,
              pool: str = CONTRACT.default_pool) -> Message:
        text = {k.decode(): v.decode() for k, v in fields.items()}
        attempt, request, deadline, callback = (text.get(name, "") for name in queue_contract.ENTRY_FIELDS)
        traceparent, tracestate = (text.get(name, "") for name in queue_contract.ENTRY_TRACE_FIELDS)
        try:
            deadline_unix = float(deadline)
        except ValueError:
            deadline_unix = 0.0
        return Message(entry_id=entry_id, attempt=attempt, request=request, deadline=deadline_unix,
                       callback=callback, shard=shard, pool=pool, traceparent=traceparent,
                       tracestate=tracestate)

    def enqueued_ns(self) -> int | None:
        """When the entry was added (its id's milliseconds, Redis' clock), in unix nanoseconds."""
        millis = self.entry_id.partition("-")[0]
        return int(millis) * 1_000_000 if millis.isdigit() else None


def stream_entries(reply: object) -> list[tuple[str, dict[bytes, bytes]]]:
    """The (id, fields) entries of a stream reply (XREADGROUP's per stream, XAUTOCLAIM's second
    element) that still have fields: XAUTOCLAIM also returns entries deleted meanwhile, fieldless."""
    entries: list[tuple[str, dict[bytes, bytes]]] = []
    for item in reply if isinstance(reply, list) else []:
        if (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], bytes)
                and isinstance(item[1], dict) and item[1]):
            entries.append((item[0].decode(), item[1]))
    return entries
