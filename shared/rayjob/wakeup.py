"""The finished wake-up: a best-effort CloudEvent telling the status function to look now."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from messages import log

CALLBACK_TIMEOUT_S = 2.0
FINISHED_EVENT_TYPE = "dev.rayexecutor.deliberation.finished.v1"
FINISHED_EVENT_SOURCE = "/ray-executor/job"


def send_wakeup(url: str, deliberation_id: str) -> None:
    """Best-effort binary-mode CloudEvent telling the status function to look now rather than on
    its next poll; it carries no authority, so losing it only delays the status."""
    if not url or not deliberation_id:
        return
    headers = {
        "ce-specversion": "1.0",
        "ce-type": FINISHED_EVENT_TYPE,
        "ce-source": FINISHED_EVENT_SOURCE,
        "ce-id": f"{deliberation_id}.finished",
        "Content-Type": "application/json",
    }
    body = json.dumps({"deliberation_id": deliberation_id}).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=CALLBACK_TIMEOUT_S) as response:
            response.read()
    except urllib.error.HTTPError as err:
        log("warning", f"wake-up answered {err.code}", deliberation_id)
    except Exception as err:  # noqa: BLE001 - best effort: never changes the outcome
        log("warning", f"wake-up failed ({type(err).__name__})", deliberation_id)
