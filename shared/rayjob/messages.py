"""What the job and the runner write for people to read: error messages as one clean line of
bounded length (no terminal escapes, no control characters, whoever wrote them: a model server, a
Ray task, the runner), and JSON log lines on stderr."""

from __future__ import annotations

import json
import re
import sys

ERROR_SNIPPET_LIMIT = 200
# Every error message of a result is cut here at last (a request with many problems, a long
# origin); server-chosen text inside one is already cut to ERROR_SNIPPET_LIMIT.
ERROR_MESSAGE_LIMIT = 1000

# Terminal escape sequences in 7-bit and 8-bit form: CSI (ESC [ or 0x9b, parameters,
# intermediates, final byte); OSC, DCS, SOS, PM and APC strings up to BEL or ST (or the next ESC,
# or the end, when unterminated); any other ESC with its intermediates and final byte. A server's
# error text must not recolour, retitle or rewrite the terminal of whoever reads it later.
TERMINAL_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c|(?=\x1b)|$)"
    r"|\x1b[ -/]*[0-~]?"
)
CONTROL_CHAR = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """text as one line without terminal escapes and C0/C1 control characters: line breaks and
    tabs become spaces, runs of white space one space."""
    text = TERMINAL_ESCAPE.sub("", text)
    text = CONTROL_CHAR.sub(lambda match: " " if match.group().isspace() else "", text)
    return " ".join(text.split())


def is_control(ch: str) -> bool:
    return CONTROL_CHAR.fullmatch(ch) is not None


def one_line(text: str, limit: int = ERROR_SNIPPET_LIMIT) -> str:
    # Cleaned before it is cut, so the cut never leaves half an escape sequence behind.
    flat = clean_text(text)
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def clean_error(text: str) -> str:
    """Every error message a result carries: one clean line of bounded length."""
    return one_line(text, ERROR_MESSAGE_LIMIT)


def log(level: str, message: str, deliberation_id: str) -> None:
    # JSON lines on stderr: the result line alone owns stdout's prefix, and Ray keeps both.
    line = json.dumps({"level": level, "msg": message, "deliberation_id": deliberation_id})
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
