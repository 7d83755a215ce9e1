"""The runner queue's contract, read from contract/runner_queue.json: the consumer group, the shard
count and an attempt's shard (shard_of, as the Go side's ShardOf), the key templates (a pool's stream:
queue_key), the default pool, the fields
of a stream entry, an attempt's marker and its result, and their states.
The Go adapter reads the same file, so neither side keeps a copy of the other's names.

Loading checks that every name the runner relies on is in the file: a renamed state or field
fails at start, not as a key nobody reads."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Beside this module in the working_dir package, as in the repository.
CONTRACT_PATH = Path(__file__).resolve().parent / "contract" / "runner_queue.json"

PREFIX = "<prefix>"
ATTEMPT = "<attempt>"
SHARD = "<shard>"
POOL = "<pool>"

# What the runner's code means by each name; the file says how each is spelled on the wire.
ENTRY_FIELDS = ("attempt", "request", "deadline", "callback")
ENTRY_TRACE_FIELDS = ("traceparent", "tracestate")  # the enqueue span's W3C context
ATTEMPT_FIELDS = ("state", "started_at", "cluster")
ATTEMPT_STATES = ("PENDING", "RUNNING", "STOPPED")
RESULT_FIELDS = ("state", "infrastructure", "start_time", "end_time", "result", "cluster")
RESULT_STATES = ("SUCCEEDED", "FAILED")
KEYS = ("queue", "pool_queue", "attempt", "result", "replicas", "layout", "clusters")


class ContractError(ValueError):
    """The contract file lacks what the runner needs."""


@dataclass(frozen=True)
class QueueContract:
    group: str
    shards: int
    default_pool: str  # its stream is "queue"; any other pool's is "pool_queue"
    keys: tuple[tuple[str, str], ...]  # name -> template, e.g. ("queue", "<prefix>:{runner:s<shard>}:queue")
    entry_fields: tuple[str, ...]
    entry_trace_fields: tuple[str, ...]
    attempt_fields: tuple[str, ...]
    attempt_states: tuple[str, ...]
    result_fields: tuple[str, ...]
    result_states: tuple[str, ...]

    def shard_of(self, attempt: str) -> int:
        """The shard of an attempt's keys: CRC-32 (IEEE) of its submission id modulo shards."""
        return zlib.crc32(attempt.encode()) % self.shards

    def key(self, name: str, prefix: str, attempt: str = "", shard: int | None = None) -> str:
        """A key of the contract; in shard, or the attempt's own shard when none is given."""
        template = dict(self.keys)[name]
        number = self.shard_of(attempt) if shard is None else shard
        return template.replace(PREFIX, prefix).replace(ATTEMPT, attempt).replace(SHARD, f"{number:02d}")

    def queue_key(self, prefix: str, shard: int, pool: str) -> str:
        """The stream of pool in shard: the default pool keeps the stream of before pools."""
        if pool == self.default_pool:
            return self.key("queue", prefix, shard=shard)
        return self.key("pool_queue", prefix, shard=shard).replace(POOL, pool)


def load(path: Path = CONTRACT_PATH) -> QueueContract:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ContractError(f"cannot read the runner queue contract {path}: {err}") from None
    if not isinstance(doc, dict):
        raise ContractError(f"{path} is not a JSON object")
    keys = doc.get("keys")
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise ContractError(f"{path}: keys is not a map of templates")
    contract = QueueContract(
        group=_string(doc, "group", path),
        shards=_shards(doc, path),
        default_pool=_string(doc, "default_pool", path),
        keys=tuple(sorted(keys.items())),
        entry_fields=_names(doc, "entry_fields", ENTRY_FIELDS, path),
        entry_trace_fields=_names(doc, "entry_trace_fields", ENTRY_TRACE_FIELDS, path),
        attempt_fields=_names(doc, "attempt_fields", ATTEMPT_FIELDS, path),
        attempt_states=_names(doc, "attempt_states", ATTEMPT_STATES, path),
        result_fields=_names(doc, "result_fields", RESULT_FIELDS, path),
        result_states=_names(doc, "result_states", RESULT_STATES, path),
    )
    missing = [name for name in KEYS if name not in keys]
    if missing:
        raise ContractError(f"{path}: keys lacks {', '.join(missing)}")
    return contract


def _shards(doc: dict[str, Any], path: Path) -> int:
    value = doc.get("shards")
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100:
        raise ContractError(f"{path}: shards is not a count from 1 to 100")
    return value


def _string(doc: dict[str, Any], name: str, path: Path) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value:
        raise ContractError(f"{path}: {name} is missing")
    return value


def _names(doc: dict[str, Any], name: str, needed: tuple[str, ...], path: Path) -> tuple[str, ...]:
    value = doc.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ContractError(f"{path}: {name} is not a list of names")
    missing = [item for item in needed if item not in value]
    if missing:
        raise ContractError(f"{path}: {name} lacks {', '.join(missing)}")
    return tuple(value)
