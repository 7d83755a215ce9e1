"""The model servers' keys, each bound to its origin: a call carries only the key of the origin
it goes to. They come from the process's own environment (the Ray pods' Secret), never from a
request, a queue entry or a job's runtime_env:

- VLLM_API_KEYS: comma-separated origin=key pairs (`https://a.example=sk-1,http://b:8000=sk-2`);
- VLLM_API_KEYS_FILE: a file of origin=key pairs, one a line (blank lines and `#` comments
  skipped), such as a Secret mounted as a volume;
- VLLM_API_KEY: one key, a shorthand for exactly one allowed origin (deprecated: say which
  origin with VLLM_API_KEYS).

Refused, with an error that never repeats a key: a key while "*" is allowed (any caller could
name its own server and receive it), VLLM_API_KEY beside the pairs or with other than one allowed
origin, an origin named twice, a pair that is no origin=key. The functions' shared/config reads the
same variables by the same rules (contract/model_keys.json holds the cases both sides check).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from policy import canonical_origin

ENV_API_KEY = "VLLM_API_KEY"
ENV_API_KEYS = "VLLM_API_KEYS"
ENV_API_KEYS_FILE = "VLLM_API_KEYS_FILE"


class KeysError(ValueError):
    """The keys configured do not fit the allowed origins; the message names no key."""


@dataclass(frozen=True)
class Keys:
    """Keys by canonical origin; repr shows the origins only."""
    by_origin: Mapping[str, str] = field(default_factory=dict, repr=False)

    def for_origin(self, origin: str) -> str:
        return self.by_origin.get(origin, "")

    def for_url(self, url: str) -> str:
        try:
            return self.for_origin(canonical_origin(url))
        except ValueError:
            return ""

    def __repr__(self) -> str:
        return f"Keys(origins={sorted(self.by_origin)})"


def parse_pairs(text: str, separator: str, where: str) -> dict[str, str]:
    """origin=key pairs, split on separator; each origin canonical, once."""
    keys: dict[str, str] = {}
    for number, raw in enumerate(text.split(separator), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        origin, sep, key = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise KeysError(f"{where} entry {number} is not origin=key")
        if any(ch <= " " or ch > "~" for ch in key):
            raise KeysError(f"{where} entry {number}: the key must be printable ASCII without spaces")
        try:
            canonical = canonical_origin(origin.strip())
        except ValueError as err:
            raise KeysError(f"{where} entry {number}: the origin {err}") from None
        if "/" in origin.strip().split("://", 1)[-1].rstrip("/"):
            raise KeysError(f"{where} entry {number}: the origin must be only scheme://host[:port]")
        if canonical in keys:
            raise KeysError(f"{where} names {canonical} twice")
        keys[canonical] = key
    return keys


def load_keys(environ: Mapping[str, str], allowed: tuple[str, ...] | None) -> Keys:
    """The keys of environ for the allowed origins (None: "*"). KeysError when they do not fit."""
    pairs = parse_pairs(environ.get(ENV_API_KEYS, ""), ",", ENV_API_KEYS)
    path = environ.get(ENV_API_KEYS_FILE, "").strip()
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except OSError as err:
            raise KeysError(f"{ENV_API_KEYS_FILE} cannot be read ({err.strerror or type(err).__name__})") from None
        for origin, key in parse_pairs(text, "\n", ENV_API_KEYS_FILE).items():
            if origin in pairs:
                raise KeysError(f"{ENV_API_KEYS} and {ENV_API_KEYS_FILE} both name {origin}")
            pairs[origin] = key
    single = environ.get(ENV_API_KEY, "").strip()
    if single:
        if pairs:
            raise KeysError(f"{ENV_API_KEY} is set beside {ENV_API_KEYS}/{ENV_API_KEYS_FILE}: "
                            "name its origin among the pairs instead")
        if allowed is None or len(allowed) != 1:
            raise KeysError(f"{ENV_API_KEY} is a shorthand for exactly one allowed origin; with "
                            f"{'*' if allowed is None else len(allowed)} allowed, set {ENV_API_KEYS} "
                            "(origin=key pairs) instead")
        pairs = {allowed[0]: single}
    if allowed is None and pairs:
        raise KeysError('"*" allows any model server, so a key would go to whichever server a '
                        "caller names: list the origins instead of \"*\", or set no key")
    return Keys(pairs)


def keys_from_environment(allowed: tuple[str, ...] | None) -> Keys:
    return load_keys(os.environ, allowed)
