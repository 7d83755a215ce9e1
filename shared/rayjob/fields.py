"""Typed fields of a decoded JSON object: each reader returns a usable value and appends what is
wrong to problems, so one parse reports every problem of a request at once."""

from __future__ import annotations

from typing import Any


def string_field(doc: dict[str, Any], key: str, problems: list[str], path: str = "") -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path}{key} is missing")
        return ""
    return value


def optional_string(doc: dict[str, Any], key: str, problems: list[str]) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(f"{key} is not a string")
        return ""
    return value


def int_in(doc: dict[str, Any], key: str, default: int, low: int, high: int | None,
            problems: list[str], path: str = "") -> int:
    value = doc.get(key)
    if value is None:
        return default
    # bool is an int in Python; a JSON true is not a count.
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
            high is not None and value > high):
        problems.append(f"{path}{key} is out of range")
        return default
    return value
